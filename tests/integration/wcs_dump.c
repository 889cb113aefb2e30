/* wcs_dump: prints this project's pixel <-> sky conversions of an image, for the astropy
 * comparison of test_wcs_astropy.py. Reads "x y" (0-based pixels) or, with --inverse, "ra dec"
 * (deg) per line on stdin and writes "in1 in2 out1 out2" per line (nan when undefined).
 * The first output line is "# width height frame equinox scale_deg". */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "fits/fits.h"

int main(int argc, char **argv)
{
    struct otf_errbuf eb = {0};
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    int inverse = 0, argi = 1, rc = 1;
    int64_t w, h;
    double a, b;

    if (argi < argc && strcmp(argv[argi], "--inverse") == 0) {
        inverse = 1;
        argi++;
    }
    if (argi >= argc || argc - argi > 2) {
        fprintf(stderr, "usage: wcs_dump [--inverse] FILE.fits [HDU] < points\n");
        return 2;
    }
    if (otf_fits_open_image(argv[argi], argi + 1 < argc ? argv[argi + 1] : NULL, &img, &eb) !=
            OTF_OK ||
        otf_fits_read_wcs(img, &wcs, &eb) != OTF_OK) {
        fprintf(stderr, "wcs_dump: %s\n", eb.msg);
        goto out;
    }
    otf_fits_image_size(img, &w, &h);
    printf("# %lld %lld %s %.17g %.17g\n", (long long)w, (long long)h, otf_fits_wcs_frame(wcs),
           otf_fits_wcs_equinox(wcs), otf_fits_wcs_pixel_scale(wcs));
    while (scanf("%lf %lf", &a, &b) == 2) {
        double in[2] = {a, b}, res[2];
        enum otf_status st = inverse ? otf_fits_sky_to_pix(wcs, 1, in, res, &eb)
                                     : otf_fits_pix_to_sky(wcs, 1, in, res, &eb);
        if (st != OTF_OK) {
            fprintf(stderr, "wcs_dump: %s\n", eb.msg);
            goto out;
        }
        printf("%.17g %.17g %.17g %.17g\n", a, b, res[0], res[1]);
    }
    rc = 0;
out:
    otf_fits_free_wcs(wcs);
    otf_fits_close_image(img);
    return rc;
}
