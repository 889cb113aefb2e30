/* Fuzz target for the FITS reader: cfitsio memory file -> HDU choice and checks -> a few tile
 * reads (edges included) -> header facts -> WCS and conversions -> sky region. Any input must
 * give OTF_OK or an error, never a crash, a leak or undefined behaviour. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/core.h"
#include "fits/fits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(struct otf_fits_image *img)
{
    static float tile[32 * 32];
    struct otf_fits_meta meta;
    struct otf_fits_wcs *wcs = NULL, *copy = NULL;
    int64_t w, h, roi[4];
    double xy[8], sky[8], back[8];

    otf_fits_image_size(img, &w, &h);
    otf_fits_read_tile(img, 0, 0, 32, 32, tile, NULL);
    otf_fits_read_tile(img, w - 16, h - 16, 32, 32, tile, NULL);
    otf_fits_read_tile(img, -8, h / 2, 16, 16, tile, NULL);
    otf_fits_read_meta(img, &meta, NULL);
    if (otf_fits_read_wcs(img, &wcs, NULL) != OTF_OK)
        return;
    xy[0] = 0;
    xy[1] = 0;
    xy[2] = (double)w - 1;
    xy[3] = (double)h - 1;
    xy[4] = (double)w / 2;
    xy[5] = (double)h / 2;
    xy[6] = -1e6;
    xy[7] = NAN;
    if (otf_fits_pix_to_sky(wcs, 4, xy, sky, NULL) == OTF_OK) {
        otf_fits_sky_to_pix(wcs, 4, sky, back, NULL);
        if (!isnan(sky[4]))
            otf_fits_roi_from_sky(wcs, w, h, sky[4], sky[5],
                                  10 * fmin(otf_fits_wcs_pixel_scale(wcs), 1.0), roi, NULL);
    }
    if (otf_fits_dup_wcs(wcs, &copy, NULL) == OTF_OK)
        otf_fits_pix_to_sky(copy, 2, xy, sky, NULL);
    otf_fits_free_wcs(copy);
    otf_fits_free_wcs(wcs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const specs[] = {NULL, "1"};
    struct otf_fits_image *img = NULL;

    if (size > (1u << 20))
        return 0;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        if (otf_fits_open_image_mem(data, size, specs[i], &img, NULL) == OTF_OK) {
            exercise(img);
            otf_fits_close_image(img);
            img = NULL;
        }
    }
    return 0;
}
