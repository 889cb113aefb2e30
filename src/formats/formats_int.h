/* formats: declarations shared by the files of this folder only. */
#ifndef OTF_FORMATS_INT_H
#define OTF_FORMATS_INT_H

#include "formats/formats.h"

/* Names of the two sky columns and their UCDs for a frame (ra/dec, glon/glat, elon/elat). */
struct formats_sky_names {
    const char *lon, *lat;
    const char *lon_ucd, *lat_ucd;
    const char *lon_desc, *lat_desc;
};
void formats_sky_names(const char *frame, struct formats_sky_names *out);

/* DS9 coordinate-system keyword for a frame ("icrs", "fk5", ...), NULL when DS9 has none. */
const char *formats_ds9_system(const char *frame);

/* Index of the value column `name` in `cat` or -1. */
int formats_find_col(const struct otf_detect_catalog *cat, const char *name);

/* ISO 8601 of t_us, or NULL when t_us is 0. `buf` holds OTF_TIME_ISO_LEN. */
const char *formats_iso(int64_t t_us, char *buf);

#endif
