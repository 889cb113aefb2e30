/* fits: FITS image reading (cfitsio) and celestial WCS (wcslib) for the detection pipeline and
 * the submission check of the HTTP server.
 *
 * An image is one HDU holding a 2-D image: NAXIS 2..9 where every axis beyond the second has
 * length 1 (judged by NAXISn, never by the CTYPEn keywords present). Pixels are read as float32
 * in rectangular tiles, with BSCALE/BZERO applied and blank pixels (NaN, or BLANK on integer
 * data) as NaN, so a 32768^2 image is never held whole in memory. Pixel indices are 0-based: the
 * centre of the first pixel in the file is (0, 0), FITS pixel (1, 1); x runs along NAXIS1.
 *
 * HDU specification (the job parameter HDU): NULL or "" = the first HDU holding a 2-D image;
 * a number = the 0-based HDU index (0 = primary, 1 = first extension: the numbering of astropy
 * and of cfitsio's "file.fits[1]"); otherwise an EXTNAME (case-insensitive, "PRIMARY" = 0),
 * optionally followed by ",EXTVER".
 *
 * Threads: cfitsio is used only through this module; if the linked cfitsio is not reentrant
 * (fits_is_reentrant()), every cfitsio call is serialised by a module mutex. An open image and a
 * WCS belong to one thread at a time and are never used by two threads at once; give another
 * thread its own WCS with otf_fits_dup_wcs(). The other functions may run on any thread.
 *
 *   struct otf_fits_image *img = NULL;
 *   struct otf_fits_wcs *wcs = NULL;
 *   if (otf_fits_open_image(path, NULL, &img, eb) == OTF_OK &&
 *       otf_fits_read_wcs(img, &wcs, eb) == OTF_OK) {
 *       int64_t w, h;
 *       otf_fits_image_size(img, &w, &h);
 *       otf_fits_read_tile(img, 0, 0, 256, 256, tile, eb);
 *       double xy[2] = {10, 20}, radec[2];
 *       otf_fits_pix_to_sky(wcs, 1, xy, radec, eb);
 *   }
 *   otf_fits_free_wcs(wcs);
 *   otf_fits_close_image(img);
 */
#ifndef OTF_FITS_H
#define OTF_FITS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define OTF_FITS_MAX_AXIS_PIX ((int64_t)1 << 20) /* largest accepted NAXISn, pixels */
#define OTF_FITS_MAX_NAXIS    9                  /* largest accepted NAXIS */
#define OTF_FITS_MAX_HDUS     10000              /* HDUs looked at by the default search */

/* What the submission check learns from the header; no pixel is read. */
struct otf_fits_info {
    int hdu;               /* 1-based HDU number chosen (cfitsio numbering; = hdu_index + 1) */
    int64_t width, height; /* NAXIS1, NAXIS2, pixels */
    int bitpix;            /* BITPIX as stored: 8, 16, 32, 64, -32, -64 */
    int naxis;             /* NAXIS (2..9; axes beyond the second have length 1) */
    int has_celestial_wcs; /* 1 when the image axes carry a usable celestial WCS */
    char frame[16];        /* "ICRS", "FK5", "FK4", "FK4-NO-E", "GAPPT", "GALACTIC",
                              "ECLIPTIC", "SUPERGALACTIC", other lng type; "" without WCS */
    int hdu_index;         /* 0-based HDU index: the value to pass back as hdu_spec */
};

/* Header facts for provenance and for the catalogue's COOSYS/PARAMs. */
struct otf_fits_meta {
    char bunit[72];    /* BUNIT; "" when absent */
    double bmaj_deg;   /* restoring beam major axis FWHM, deg; NaN when absent */
    double bmin_deg;   /* minor axis FWHM, deg; NaN when absent */
    double bpa_deg;    /* position angle, deg east of north; NaN when absent */
    char radesys[16];  /* RADESYS (or RADECSYS) as written; "" when absent */
    double equinox;    /* EQUINOX, else EPOCH, years; NaN when absent */
    char date_obs[72]; /* DATE-OBS; "" when absent */
    char telescop[72]; /* TELESCOP; "" when absent */
    char object[72];   /* OBJECT; "" when absent */
    double freq_hz;    /* frequency of the first pixel of a FREQ axis (present as a keyword
                          even when NAXIS stops before it), Hz; NaN when absent */
};

/* An open image HDU (owns a cfitsio handle). One thread at a time. */
struct otf_fits_image;
/* The celestial WCS of an image's two pixel axes (owns a wcsprm). Never shared by threads. */
struct otf_fits_wcs;

/* ---- submission check (called by the HTTP server; signatures are stable) ---- */

/* Header-only check of the file at `path`: it is FITS (not compressed with gzip/bzip2), the HDU
 * named by `hdu_spec` (NULL = default) exists and holds a 2-D image, each axis <= 1<<20 pixels,
 * and the file holds all the data the header announces. Fills `*info` on success.
 * Errors: OTF_E_FORMAT (not FITS, malformed header, no image HDU, truncated data), OTF_E_LIMIT
 * (absurd dimensions), OTF_E_INVAL (hdu_spec malformed, naming no HDU, or naming an HDU that is
 * not a 2-D image), OTF_E_IO, OTF_E_NOMEM. Messages never contain the folder of `path`. */
enum otf_status otf_fits_probe(const char *path, const char *hdu_spec, struct otf_fits_info *info,
                               struct otf_errbuf *eb);

/* Region of interest by sky position: RA/DEC (deg, in the image's frame) and SIZE (the full
 * side of a square on the sky, deg, 0 < SIZE <= 90) -> pixel box [x0, y0, x1, y1) (0-based,
 * end exclusive) clipped to the image. Errors: as otf_fits_probe, plus OTF_E_FORMAT "image has
 * no celestial WCS", OTF_E_INVAL for bad numbers and "region outside the image". */
enum otf_status otf_fits_probe_roi(const char *path, const char *hdu_spec, double ra_deg,
                                   double dec_deg, double size_deg, int64_t roi_out[4],
                                   struct otf_errbuf *eb);

/* ---- images ---- */

/* Opens `path` (taken literally: no cfitsio extended filename syntax) and moves to the image
 * HDU of `hdu_spec` after the checks of otf_fits_probe. `*out` is written only on success and
 * freed with otf_fits_close_image(). Errors as otf_fits_probe. */
enum otf_status otf_fits_open_image(const char *path, const char *hdu_spec,
                                    struct otf_fits_image **out, struct otf_errbuf *eb);

/* As otf_fits_open_image for a FITS file held in memory (a cfitsio memory file). `data` is
 * borrowed, read-only, and must stay valid and unchanged until otf_fits_close_image() (when
 * `len` is not a multiple of 2880 a zero-padded copy is read instead; OTF_E_NOMEM). */
enum otf_status otf_fits_open_image_mem(const void *data, size_t len, const char *hdu_spec,
                                        struct otf_fits_image **out, struct otf_errbuf *eb);

/* Closes the file and frees `img`; NULL is a no-op. */
void otf_fits_close_image(struct otf_fits_image *img);

/* The header facts of the chosen HDU (borrowed; valid until otf_fits_close_image).
 * has_celestial_wcs and frame are filled once otf_fits_read_wcs() has succeeded on `img`. */
const struct otf_fits_info *otf_fits_image_info(const struct otf_fits_image *img);

/* NAXIS1 and NAXIS2 in pixels. */
void otf_fits_image_size(const struct otf_fits_image *img, int64_t *width, int64_t *height);

/* Reads pixels x0 <= x < x0 + w, y0 <= y < y0 + h (0-based) into `out` as float32, row-major:
 * out[(y - y0) * w + (x - x0)], caller-allocated with w * h floats. The box may reach beyond the
 * image, or lie wholly outside it: pixels outside the image are NaN, like blank pixels. Values
 * are physical (BSCALE/BZERO applied); NaN and BLANK-flagged integer pixels give NaN.
 * Errors: OTF_E_INVAL (w or h < 1 or > 1<<22, |x0|, |y0| > 1<<40), OTF_E_IO / OTF_E_FORMAT on a
 * read failure (out is then undefined). */
enum otf_status otf_fits_read_tile(struct otf_fits_image *img, int64_t x0, int64_t y0, int64_t w,
                                   int64_t h, float *out, struct otf_errbuf *eb);

/* Fills `*meta` from the chosen HDU's header (BUNIT, beam — falling back to the AIPS CLEAN
 * "BMAJ= BMIN= BPA=" HISTORY card —, RADESYS, EQUINOX/EPOCH, DATE-OBS, TELESCOP, OBJECT, FREQ
 * axis). Absent keywords are "" or NaN; only a cfitsio failure is an error. */
enum otf_status otf_fits_read_meta(struct otf_fits_image *img, struct otf_fits_meta *meta,
                                   struct otf_errbuf *eb);

/* ---- WCS ---- */

/* Builds the celestial WCS of the image's two pixel axes from the header (the celestial sub-WCS
 * of an N-D header; NCP and other AIPS conventions translated; CD, PC, PC00i00j, CROTA keys;
 * distortions (SIP, TPV, DSS) are not applied).
 * `*out` is written only on success and freed with otf_fits_free_wcs().
 * Errors: OTF_E_FORMAT "image has no celestial WCS" (no WCS keys, or axes 1-2 not a celestial
 * pair) or an invalid WCS (wcslib's message), OTF_E_NOMEM. */
enum otf_status otf_fits_read_wcs(struct otf_fits_image *img, struct otf_fits_wcs **out,
                                  struct otf_errbuf *eb);

/* Builds a WCS from a FITS header given as concatenated 80-character cards (`nkeys` cards;
 * borrowed). For tools and tests; same errors as otf_fits_read_wcs. */
enum otf_status otf_fits_parse_wcs(const char *cards, int nkeys, struct otf_fits_wcs **out,
                                   struct otf_errbuf *eb);

/* A deep copy of `src` for another thread. Call it on the thread that uses `src` (wcslib
 * structs are not thread-safe), then hand the copy over. */
enum otf_status otf_fits_dup_wcs(const struct otf_fits_wcs *src, struct otf_fits_wcs **out,
                                 struct otf_errbuf *eb);

/* Frees `wcs`; NULL is a no-op. */
void otf_fits_free_wcs(struct otf_fits_wcs *wcs);

/* `n` pixel positions xy[2i], xy[2i+1] (0-based, pixel centres at integers) to sky positions
 * radec[2i] (longitude, wrapped to [0, 360)) and radec[2i+1] (latitude), deg, in the image's
 * frame. A position with no sky coordinate (off the projection, or NaN) gives NaN, NaN and is
 * not an error. Errors: OTF_E_FORMAT when wcslib fails as a whole (message from wcslib). */
enum otf_status otf_fits_pix_to_sky(struct otf_fits_wcs *wcs, size_t n, const double *xy,
                                    double *radec, struct otf_errbuf *eb);

/* The inverse: sky positions (deg, any longitude range) to 0-based pixel positions; a position
 * not on the projection gives NaN, NaN. Errors as otf_fits_pix_to_sky. */
enum otf_status otf_fits_sky_to_pix(struct otf_fits_wcs *wcs, size_t n, const double *radec,
                                    double *xy, struct otf_errbuf *eb);

/* The reference frame (see otf_fits_info.frame); static storage of `wcs`. */
const char *otf_fits_wcs_frame(const struct otf_fits_wcs *wcs);
/* Equinox of FK4/FK5/ecliptic frames, years; NaN for ICRS, galactic and others. */
double otf_fits_wcs_equinox(const struct otf_fits_wcs *wcs);
/* Pixel scale at the reference pixel, sqrt(|det CD|), deg/pixel. */
double otf_fits_wcs_pixel_scale(const struct otf_fits_wcs *wcs);

/* ---- regions of interest ---- */

/* Validates a pixel box [x0, y0, x1, y1) (0-based, end exclusive) against a width x height image
 * and clips it. Errors: OTF_E_INVAL when x1 <= x0 or y1 <= y0 ("empty region"), or when the box
 * does not overlap the image ("region outside the image"). */
enum otf_status otf_fits_clip_roi(int64_t width, int64_t height, const int64_t box[4],
                                  int64_t roi_out[4], struct otf_errbuf *eb);

/* RA/DEC/SIZE (deg; SIZE is the full side of a square on the sky, 0 < SIZE <= 90) -> the pixel
 * box covering that square, clipped to the image. The square's border is sampled in the
 * tangent plane at (RA, DEC); if part of it is off the projection the box widens to the whole
 * image. Errors: OTF_E_INVAL (non-finite or out-of-range numbers, centre not on the projection,
 * "region outside the image"). */
enum otf_status otf_fits_roi_from_sky(struct otf_fits_wcs *wcs, int64_t width, int64_t height,
                                      double ra_deg, double dec_deg, double size_deg,
                                      int64_t roi_out[4], struct otf_errbuf *eb);

#endif
