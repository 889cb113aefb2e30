/* Regions of interest: a pixel box checked and clipped to the image, or a square on the sky
 * (RA, DEC, SIZE) turned into the pixel box that covers it. Boxes are [x0, y0, x1, y1), 0-based,
 * end exclusive; pixel i covers [i - 0.5, i + 0.5). */
#include <math.h>
#include <stdio.h>

#include "fits/fits.h"

#define DEG2RAD    (3.14159265358979323846 / 180.0)
#define RAD2DEG    (180.0 / 3.14159265358979323846)
#define EDGE_STEPS 16 /* samples per side of the square */

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

enum otf_status otf_fits_clip_roi(int64_t width, int64_t height, const int64_t box[4],
                                  int64_t roi_out[4], struct otf_errbuf *eb)
{
    int64_t r[4];

    OTF_ASSERT(box && roi_out && width > 0 && height > 0);
    if (box[2] <= box[0] || box[3] <= box[1])
        return OTF_FAIL(eb, OTF_E_INVAL,
                        "empty region: ROI=%lld,%lld,%lld,%lld needs x0 < x1 "
                        "and y0 < y1",
                        (long long)box[0], (long long)box[1], (long long)box[2], (long long)box[3]);
    if (box[2] <= 0 || box[3] <= 0 || box[0] >= width || box[1] >= height)
        return OTF_FAIL(eb, OTF_E_INVAL,
                        "region outside the image: ROI=%lld,%lld,%lld,%lld, image %lld x %lld",
                        (long long)box[0], (long long)box[1], (long long)box[2], (long long)box[3],
                        (long long)width, (long long)height);
    r[0] = clamp64(box[0], 0, width);
    r[1] = clamp64(box[1], 0, height);
    r[2] = clamp64(box[2], 0, width);
    r[3] = clamp64(box[3], 0, height);
    for (int i = 0; i < 4; i++)
        roi_out[i] = r[i];
    return OTF_OK;
}

/* The point at tangent-plane offsets (xi, eta) (radians, xi towards increasing RA) from
 * (ra0, dec0): the inverse gnomonic projection. */
static void tangent_to_sky(double ra0, double dec0, double xi, double eta, double *ra, double *dec)
{
    double sd = sin(dec0), cd = cos(dec0);
    double den = cd - eta * sd;

    *ra = ra0 + atan2(xi, den);
    *dec = atan2(sd + eta * cd, sqrt(xi * xi + den * den));
}

/* Pixel index of a continuous coordinate, kept far from int64 overflow. */
static int64_t pix_floor(double v)
{
    if (v < -1e15)
        return (int64_t)-1e15;
    if (v > 1e15)
        return (int64_t)1e15;
    return (int64_t)floor(v + 0.5);
}

enum otf_status otf_fits_roi_from_sky(struct otf_fits_wcs *wcs, int64_t width, int64_t height,
                                      double ra_deg, double dec_deg, double size_deg,
                                      int64_t roi_out[4], struct otf_errbuf *eb)
{
    double sky[2 * 4 * EDGE_STEPS], pix[2 * 4 * EDGE_STEPS];
    double centre[2], cpix[2];
    double xmin, xmax, ymin, ymax, t, ra0, dec0;
    int n = 0, off_projection = 0;
    int64_t box[4];
    enum otf_status rc;

    OTF_ASSERT(wcs && roi_out && width > 0 && height > 0);
    if (!isfinite(ra_deg) || !isfinite(dec_deg) || !isfinite(size_deg))
        return OTF_FAIL(eb, OTF_E_INVAL, "RA, DEC and SIZE must be finite numbers");
    if (dec_deg < -90.0 || dec_deg > 90.0)
        return OTF_FAIL(eb, OTF_E_INVAL, "DEC = %g is outside [-90, 90]", dec_deg);
    if (!(size_deg > 0.0) || size_deg > 90.0)
        return OTF_FAIL(eb, OTF_E_INVAL, "SIZE = %g deg is outside (0, 90]", size_deg);

    centre[0] = ra_deg;
    centre[1] = dec_deg;
    rc = otf_fits_sky_to_pix(wcs, 1, centre, cpix, eb);
    if (rc != OTF_OK)
        return rc;
    if (isnan(cpix[0]))
        return OTF_FAIL(eb, OTF_E_INVAL,
                        "region outside the image: RA = %g, DEC = %g is not on the image's "
                        "projection",
                        ra_deg, dec_deg);

    /* The square's border in the tangent plane at the centre: a side of SIZE seen from the
     * centre spans +-SIZE/2 in angle, i.e. +-tan(SIZE/2) in the plane. */
    t = tan(0.5 * size_deg * DEG2RAD);
    ra0 = ra_deg * DEG2RAD;
    dec0 = dec_deg * DEG2RAD;
    for (int side = 0; side < 4; side++) {
        for (int k = 0; k < EDGE_STEPS; k++) {
            double u = -1.0 + 2.0 * k / EDGE_STEPS, xi, eta, ra, dec;
            switch (side) {
            case 0:
                xi = u, eta = -1.0;
                break;
            case 1:
                xi = 1.0, eta = u;
                break;
            case 2:
                xi = -u, eta = 1.0;
                break;
            default:
                xi = -1.0, eta = -u;
                break;
            }
            tangent_to_sky(ra0, dec0, xi * t, eta * t, &ra, &dec);
            sky[2 * n] = ra * RAD2DEG;
            sky[2 * n + 1] = dec * RAD2DEG;
            n++;
        }
    }
    rc = otf_fits_sky_to_pix(wcs, (size_t)n, sky, pix, eb);
    if (rc != OTF_OK)
        return rc;
    xmin = xmax = cpix[0];
    ymin = ymax = cpix[1];
    for (int i = 0; i < n; i++) {
        if (isnan(pix[2 * i])) {
            off_projection = 1;
            continue;
        }
        xmin = fmin(xmin, pix[2 * i]);
        xmax = fmax(xmax, pix[2 * i]);
        ymin = fmin(ymin, pix[2 * i + 1]);
        ymax = fmax(ymax, pix[2 * i + 1]);
    }
    if (off_projection) {
        /* Part of the square has no pixel position: take the whole image (a superset). */
        box[0] = 0;
        box[1] = 0;
        box[2] = width;
        box[3] = height;
    } else {
        box[0] = pix_floor(xmin);
        box[1] = pix_floor(ymin);
        box[2] = pix_floor(xmax) + 1;
        box[3] = pix_floor(ymax) + 1;
    }
    if (box[2] <= 0 || box[3] <= 0 || box[0] >= width || box[1] >= height)
        return OTF_FAIL(eb, OTF_E_INVAL,
                        "region outside the image: RA = %g, DEC = %g, SIZE = %g covers pixels "
                        "x %lld..%lld, y %lld..%lld of a %lld x %lld image",
                        ra_deg, dec_deg, size_deg, (long long)box[0], (long long)box[2] - 1,
                        (long long)box[1], (long long)box[3] - 1, (long long)width,
                        (long long)height);
    return otf_fits_clip_roi(width, height, box, roi_out, eb);
}
