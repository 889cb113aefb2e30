/* otf-synth: writes an SDC1-like FITS field band by band (SYNTH_BLOCK rows at a time) and its
 * exact truth catalogue in the SDC1 12-column text format, plus a per-source SNR sidecar and an
 * optional ds9 region file. Positions in the truth come from wcslib applied to the header that
 * was written, so any FITS/WCS reader sees the sources where the truth says they are. */
#include <fitsio.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wcslib/wcsfix.h>
#include <wcslib/wcshdr.h>
#include <wcslib/wcslib.h>

#include "synth.h"

void synth_finish_source(const struct synth_params *p, struct synth_source *s, double pb);

static void die_fits(int status, const char *what)
{
    char msg[FLEN_ERRMSG];
    fits_get_errstatus(status, msg);
    fprintf(stderr, "otf-synth: %s: %s\n", what, msg);
    exit(1);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: otf-synth -o FIELD.fits -t TRUTH.txt [options]\n"
            "  SDC1-like synthetic field with an exact truth catalogue (SDC1 12-column text).\n"
            "  -n, --size N          image side in pixels (default 4096)\n"
            "  -s, --seed S          random seed (default 1)\n"
            "      --band 1|2|5      SDC1 band B1 560 MHz, B2 1.4 GHz, B5 9.2 GHz (default 1)\n"
            "      --depth 8|100|1000  hours: sets the noise (default 1000)\n"
            "      --sigma JY        noise rms (Jy/beam), overrides --depth\n"
            "      --ra DEG --dec DEG  image centre (default -0.30, -29.67: SDC1 B1 training "
            "area)\n"
            "      --density X       source density scale (default 1 = SDC1 counts)\n"
            "      --agn-fraction F  fraction of AGN, split between SS and FS (default SDC1 mix)\n"
            "      --min-flux JY     faintest source drawn (default 0.05 sigma)\n"
            "      --header sdc1-4d|plain-2d   header layout (default sdc1-4d)\n"
            "      --nan-border      blank (NaN) outside the inscribed circle\n"
            "      --ncp             RA---NCP/DEC--NCP projection instead of SIN\n"
            "      --bitpix -32|-64  pixel type (default -32)\n"
            "      --pb parent|centre|none  primary beam centre: SDC1 parent field (RA 0, Dec "
            "-30;\n"
            "                        default), the image centre, or no primary beam\n"
            "      --noise-psf sdc1|beam  noise texture: SDC1-like, a main lobe narrower than the\n"
            "                        beam with negative sidelobes (default), or white noise\n"
            "                        through the Gaussian restoring beam\n"
            "      --no-noise, --no-sources   leave one of them out\n"
            "      --snr FILE        sidecar: id x y pb peak_jy snr class (default TRUTH.snr)\n"
            "      --reg FILE        ds9 regions of sources with peak SNR >= 3\n");
}

struct wcs_ctx {
    struct wcsprm *wcs;
    int naxis;
};

/* 0-based pixel -> RA (-180, 180], Dec, in place over n points (x, y pairs). */
static void pix2sky(struct wcs_ctx *w, size_t n, double *xy)
{
    if (n == 0)
        return;
    int na = w->naxis;
    double *pix = calloc(n * (size_t)na, sizeof(double)), *img = calloc(n * (size_t)na, 8);
    double *wld = calloc(n * (size_t)na, 8), *phi = calloc(n, 8), *theta = calloc(n, 8);
    int *stat = calloc(n, sizeof(int));
    if (!pix || !img || !wld || !phi || !theta || !stat) {
        fprintf(stderr, "otf-synth: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < na; k++)
            pix[i * (size_t)na + (size_t)k] = 1.0;
        pix[i * (size_t)na] = xy[2 * i] + 1.0;
        pix[i * (size_t)na + 1] = xy[2 * i + 1] + 1.0;
    }
    if (wcsp2s(w->wcs, (int)n, na, pix, img, phi, theta, wld, stat) != 0) {
        fprintf(stderr, "otf-synth: wcsp2s failed\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        double ra = wld[i * (size_t)na], dec = wld[i * (size_t)na + 1];
        ra = fmod(ra, 360.0);
        if (ra > 180.0)
            ra -= 360.0;
        if (ra <= -180.0)
            ra += 360.0;
        xy[2 * i] = ra;
        xy[2 * i + 1] = dec;
    }
    free(pix);
    free(img);
    free(wld);
    free(phi);
    free(theta);
    free(stat);
}

struct row {
    struct synth_source *s;
    size_t n, cap;
    double *sky; /* [n][4]: ra_core, dec_core, ra_cent, dec_cent */
};

static int in_circle(const struct synth_params *p, double x, double y)
{
    double c = 0.5 * (double)(p->n - 1), r = 0.5 * (double)p->n - 2.0;
    return (x - c) * (x - c) + (y - c) * (y - c) <= r * r;
}

/* Draws every block of block-row `by` and finishes the sources (sky positions, PB, shapes). */
static void draw_row(const struct synth_params *p, struct wcs_ctx *w, int64_t by, struct row *r)
{
    const int64_t nbx = (p->n + SYNTH_BLOCK - 1) / SYNTH_BLOCK;
    struct synth_source *tmp = NULL;
    size_t nt = 0, ct = 0;

    r->n = 0;
    for (int64_t bx = 0; bx < nbx; bx++) {
        synth_draw_block(p, bx, by, &tmp, &nt, &ct);
        for (size_t i = 0; i < nt; i++) {
            if (p->nan_border && !in_circle(p, tmp[i].x_core, tmp[i].y_core))
                continue;
            if (r->n == r->cap) {
                r->cap = r->cap ? 2 * r->cap : 4096;
                r->s = realloc(r->s, r->cap * sizeof(*r->s));
                r->sky = realloc(r->sky, r->cap * 4 * sizeof(double));
                if (!r->s || !r->sky) {
                    fprintf(stderr, "otf-synth: out of memory\n");
                    exit(1);
                }
            }
            r->s[r->n++] = tmp[i];
        }
    }
    free(tmp);
    double *xy = malloc((r->n ? r->n : 1) * 2 * sizeof(double));
    if (!xy) {
        fprintf(stderr, "otf-synth: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < r->n; i++) {
        xy[2 * i] = r->s[i].x_core;
        xy[2 * i + 1] = r->s[i].y_core;
    }
    pix2sky(w, r->n, xy);
    for (size_t i = 0; i < r->n; i++) {
        synth_finish_source(p, &r->s[i], synth_pb(p, xy[2 * i], xy[2 * i + 1]));
        r->sky[4 * i] = xy[2 * i];
        r->sky[4 * i + 1] = xy[2 * i + 1];
    }
    for (size_t i = 0; i < r->n; i++) {
        xy[2 * i] = r->s[i].x_cent;
        xy[2 * i + 1] = r->s[i].y_cent;
    }
    pix2sky(w, r->n, xy);
    for (size_t i = 0; i < r->n; i++) {
        r->sky[4 * i + 2] = xy[2 * i];
        r->sky[4 * i + 3] = xy[2 * i + 1];
    }
    free(xy);
}

static void write_header(fitsfile *f, const struct synth_params *p, int *status)
{
    double pix_deg = p->pix_arcsec / 3600.0, beam_deg = p->beam_arcsec / 3600.0;
    double crpix = (double)(p->n / 2) + 1.0, ra = p->ra0_deg < 0 ? p->ra0_deg + 360 : p->ra0_deg;
    double one = 1.0, bw = 0.3 * p->freq_hz, zero = 0.0, eq = 2000.0;
    long long seed = (long long)p->seed;
    int depth = p->depth_h, band = p->band;
    const char *c1 = p->ncp ? "RA---NCP" : "RA---SIN", *c2 = p->ncp ? "DEC--NCP" : "DEC--SIN";

    fits_update_key(f, TSTRING, "BUNIT", "JY/BEAM", "Brightness (pixel) unit", status);
    fits_update_key(f, TDOUBLE, "BMAJ", &beam_deg, "Restoring beam major axis FWHM (deg)", status);
    fits_update_key(f, TDOUBLE, "BMIN", &beam_deg, "Restoring beam minor axis FWHM (deg)", status);
    fits_update_key(f, TDOUBLE, "BPA", &zero, "Restoring beam position angle (deg)", status);
    fits_update_key(f, TDOUBLE, "EQUINOX", &eq, NULL, status);
    fits_update_key(f, TSTRING, "RADESYS", "FK5", NULL, status);
    fits_update_key(f, TSTRING, "CTYPE1", (void *)c1, NULL, status);
    fits_update_key(f, TDOUBLE, "CRVAL1", &ra, NULL, status);
    fits_update_key(f, TDOUBLE, "CDELT1", &(double){-pix_deg}, NULL, status);
    fits_update_key(f, TDOUBLE, "CRPIX1", &crpix, NULL, status);
    fits_update_key(f, TSTRING, "CUNIT1", "deg", NULL, status);
    fits_update_key(f, TSTRING, "CTYPE2", (void *)c2, NULL, status);
    fits_update_key(f, TDOUBLE, "CRVAL2", &(double){p->dec0_deg}, NULL, status);
    fits_update_key(f, TDOUBLE, "CDELT2", &pix_deg, NULL, status);
    fits_update_key(f, TDOUBLE, "CRPIX2", &crpix, NULL, status);
    fits_update_key(f, TSTRING, "CUNIT2", "deg", NULL, status);
    if (p->header_4d) {
        fits_update_key(f, TSTRING, "CTYPE3", "FREQ", NULL, status);
        fits_update_key(f, TDOUBLE, "CRVAL3", &(double){p->freq_hz}, NULL, status);
        fits_update_key(f, TDOUBLE, "CDELT3", &bw, NULL, status);
        fits_update_key(f, TDOUBLE, "CRPIX3", &one, NULL, status);
        fits_update_key(f, TSTRING, "CUNIT3", "Hz", NULL, status);
        fits_update_key(f, TSTRING, "CTYPE4", "STOKES", NULL, status);
        fits_update_key(f, TDOUBLE, "CRVAL4", &one, NULL, status);
        fits_update_key(f, TDOUBLE, "CDELT4", &one, NULL, status);
        fits_update_key(f, TDOUBLE, "CRPIX4", &one, NULL, status);
        fits_update_key(f, TSTRING, "CUNIT4", " ", NULL, status);
    } else {
        fits_update_key(f, TDOUBLE, "RESTFRQ", &(double){p->freq_hz}, "Hz", status);
    }
    fits_update_key(f, TSTRING, "TELESCOP", "SKA-MID (synthetic)", NULL, status);
    fits_update_key(f, TSTRING, "OBJECT", "otf-synth field", NULL, status);
    fits_update_key(f, TSTRING, "ORIGIN", "CIANNA On-The-Fly otf-synth", NULL, status);
    fits_update_key(f, TLONGLONG, "SYNSEED", &seed, "otf-synth random seed", status);
    fits_update_key(f, TINT, "SYNBAND", &band, "SDC1 band (1=560MHz, 2=1.4GHz, 5=9.2GHz)", status);
    fits_update_key(f, TINT, "SYNDEPTH", &depth, "hours of integration emulated", status);
    fits_update_key(f, TDOUBLE, "SYNSIGMA", &(double){p->sigma}, "noise rms (Jy/beam)", status);
    fits_update_key(f, TSTRING, "SYNNOISE", p->noise_psf ? "sdc1" : "beam",
                    "noise texture (--noise-psf)", status);
    fits_update_key(f, TDOUBLE, "SYNDENS", &(double){p->density_scale}, "source density scale",
                    status);
    fits_update_key(f, TINT, "SYNPB", &(int){p->pb_mode},
                    "primary beam: 0 none, 1 SDC1 parent centre, 2 image centre", status);
}

int main(int argc, char **argv)
{
    struct synth_params p = {.n = 4096,
                             .band = 1,
                             .depth_h = 1000,
                             .seed = 1,
                             .ra0_deg = -0.30,
                             .dec0_deg = -29.67,
                             .density_scale = 1.0,
                             .agn_fraction = -1,
                             .header_4d = 1,
                             .bitpix = -32,
                             .pb_mode = 1,
                             .with_noise = 1,
                             .with_sources = 1,
                             .noise_sigma = -1,
                             .noise_psf = 1,
                             .min_flux_jy = -1};
    const char *out = NULL, *truth = NULL, *snr_path = NULL, *reg_path = NULL;
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"truth", required_argument, 0, 't'},
                                         {"size", required_argument, 0, 'n'},
                                         {"seed", required_argument, 0, 's'},
                                         {"band", required_argument, 0, 1},
                                         {"depth", required_argument, 0, 2},
                                         {"sigma", required_argument, 0, 3},
                                         {"ra", required_argument, 0, 4},
                                         {"dec", required_argument, 0, 5},
                                         {"density", required_argument, 0, 6},
                                         {"agn-fraction", required_argument, 0, 7},
                                         {"min-flux", required_argument, 0, 8},
                                         {"header", required_argument, 0, 9},
                                         {"nan-border", no_argument, 0, 10},
                                         {"ncp", no_argument, 0, 11},
                                         {"bitpix", required_argument, 0, 12},
                                         {"pb", required_argument, 0, 13},
                                         {"no-noise", no_argument, 0, 14},
                                         {"no-sources", no_argument, 0, 15},
                                         {"snr", required_argument, 0, 16},
                                         {"reg", required_argument, 0, 17},
                                         {"noise-psf", required_argument, 0, 18},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "o:t:n:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 't':
            truth = optarg;
            break;
        case 'n':
            p.n = strtoll(optarg, NULL, 10);
            break;
        case 's':
            p.seed = strtoull(optarg, NULL, 10);
            break;
        case 1:
            p.band = atoi(optarg);
            break;
        case 2:
            p.depth_h = atoi(optarg);
            break;
        case 3:
            p.noise_sigma = atof(optarg);
            break;
        case 4:
            p.ra0_deg = atof(optarg);
            break;
        case 5:
            p.dec0_deg = atof(optarg);
            break;
        case 6:
            p.density_scale = atof(optarg);
            break;
        case 7:
            p.agn_fraction = atof(optarg);
            break;
        case 8:
            p.min_flux_jy = atof(optarg);
            break;
        case 9:
            if (strcmp(optarg, "sdc1-4d") == 0)
                p.header_4d = 1;
            else if (strcmp(optarg, "plain-2d") == 0)
                p.header_4d = 0;
            else {
                fprintf(stderr, "otf-synth: --header sdc1-4d|plain-2d\n");
                return 2;
            }
            break;
        case 10:
            p.nan_border = 1;
            break;
        case 11:
            p.ncp = 1;
            break;
        case 12:
            p.bitpix = atoi(optarg);
            if (p.bitpix != -32 && p.bitpix != -64) {
                fprintf(stderr, "otf-synth: --bitpix -32|-64\n");
                return 2;
            }
            break;
        case 13:
            if (strcmp(optarg, "none") == 0)
                p.pb_mode = 0;
            else if (strcmp(optarg, "parent") == 0)
                p.pb_mode = 1;
            else if (strcmp(optarg, "centre") == 0 || strcmp(optarg, "center") == 0)
                p.pb_mode = 2;
            else {
                fprintf(stderr, "otf-synth: --pb parent|centre|none\n");
                return 2;
            }
            break;
        case 14:
            p.with_noise = 0;
            break;
        case 15:
            p.with_sources = 0;
            break;
        case 16:
            snr_path = optarg;
            break;
        case 17:
            reg_path = optarg;
            break;
        case 18:
            if (strcmp(optarg, "sdc1") == 0)
                p.noise_psf = 1;
            else if (strcmp(optarg, "beam") == 0)
                p.noise_psf = 0;
            else {
                fprintf(stderr, "otf-synth: --noise-psf must be sdc1 or beam, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!out || !truth || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (synth_params_finish(&p) != 0 || p.density_scale < 0)
        return 2;

    /* FITS: create, header, then read the header back for wcslib */
    fitsfile *f = NULL;
    int status = 0;
    char *path = malloc(strlen(out) + 2);
    if (!path)
        return 1;
    sprintf(path, "!%s", out);
    long naxes[4] = {(long)p.n, (long)p.n, 1, 1};
    if (fits_create_file(&f, path, &status) ||
        fits_create_img(f, p.bitpix == -64 ? DOUBLE_IMG : FLOAT_IMG, p.header_4d ? 4 : 2, naxes,
                        &status))
        die_fits(status, out);
    free(path);
    write_header(f, &p, &status);
    if (status)
        die_fits(status, "header");
    char *hdr = NULL;
    int nkeys = 0, nreject = 0, nwcs = 0;
    struct wcsprm *wcs = NULL;
    if (fits_hdr2str(f, 1, NULL, 0, &hdr, &nkeys, &status))
        die_fits(status, "header");
    if (wcspih(hdr, nkeys, WCSHDR_all, 0, &nreject, &nwcs, &wcs) != 0 || nwcs < 1) {
        fprintf(stderr, "otf-synth: wcslib cannot parse the header it was given\n");
        return 1;
    }
    fits_free_memory(hdr, &status);
    celfix(wcs); /* NCP -> SIN with PV2_2 = cot(dec0), as readers do */
    if (wcsset(wcs) != 0) {
        fprintf(stderr, "otf-synth: wcsset failed\n");
        return 1;
    }
    struct wcs_ctx w = {wcs, wcs->naxis};

    FILE *ft = fopen(truth, "w");
    char *snr_def = NULL;
    if (!snr_path) {
        snr_def = malloc(strlen(truth) + 5);
        if (!snr_def)
            return 1;
        sprintf(snr_def, "%s.snr", truth);
        snr_path = snr_def;
    }
    FILE *fs = fopen(snr_path, "w");
    FILE *fr = reg_path ? fopen(reg_path, "w") : NULL;
    if (!ft || !fs || (reg_path && !fr)) {
        fprintf(stderr, "otf-synth: cannot write the truth, sidecar or region file\n");
        return 1;
    }
    fprintf(fs, "# id x_pix y_pix pb peak_jy_beam snr_peak class (0-based pixels; sigma %.6g)\n",
            p.sigma);
    if (fr)
        fprintf(fr, "# Region file format: DS9 version 4.1\nfk5\n");

    const int64_t nby = (p.n + SYNTH_BLOCK - 1) / SYNTH_BLOCK;
    struct row rows[3] = {{0}};
    double *band = malloc((size_t)p.n * SYNTH_BLOCK * sizeof(double));
    void *buf = malloc((size_t)p.n * SYNTH_BLOCK * (p.bitpix == -64 ? 8 : 4));
    long long id = 0, n_src = 0;
    if (!band || !buf)
        return 1;
    /* rows[0..2] hold block rows by-1, by, by+1 */
    draw_row(&p, &w, 0, &rows[1]);
    if (nby > 1)
        draw_row(&p, &w, 1, &rows[2]);
    for (int64_t by = 0; by < nby; by++) {
        int64_t y0 = by * SYNTH_BLOCK, h = p.n - y0 < SYNTH_BLOCK ? p.n - y0 : SYNTH_BLOCK;
        memset(band, 0, (size_t)(p.n * h) * sizeof(double));
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < rows[k].n; i++)
                synth_render(&p, &rows[k].s[i], band, y0, h);
        if (p.with_noise)
            synth_add_noise(&p, band, y0, h);
        for (int64_t j = 0; j < h; j++)
            for (int64_t i = 0; i < p.n; i++) {
                double v = band[j * p.n + i];
                if (p.nan_border && !in_circle(&p, (double)i, (double)(y0 + j)))
                    v = NAN;
                if (p.bitpix == -64)
                    ((double *)buf)[j * p.n + i] = v;
                else
                    ((float *)buf)[j * p.n + i] = (float)v;
            }
        long fpix[4] = {1, (long)y0 + 1, 1, 1};
        if (fits_write_pix(f, p.bitpix == -64 ? TDOUBLE : TFLOAT, fpix, (LONGLONG)(p.n * h), buf,
                           &status))
            die_fits(status, "write");
        const struct row *r = &rows[1];
        for (size_t i = 0; i < r->n; i++) {
            const struct synth_source *s = &r->s[i];
            const double *k = r->sky + 4 * i;
            id++;
            n_src++;
            fprintf(ft, "%lld %.9f %.9f %.9f %.9f %.6e %.6g %.6g %.6g %.6g %d %d\n", id, k[0], k[1],
                    k[2], k[3], s->flux_jy, s->core_frac, s->b_maj, s->b_min, s->pa_deg,
                    (int)s->size_class, (int)s->cls);
            fprintf(fs, "%lld %.4f %.4f %.6f %.6e %.4f %d\n", id, s->x_cent, s->y_cent, s->pb,
                    s->peak_jy, s->peak_jy / p.sigma, (int)s->cls);
            if (fr && s->peak_jy / p.sigma >= 3.0) {
                double rad = s->size_class == SYNTH_LAS ? 0.5 * s->b_maj : p.beam_arcsec;
                fprintf(fr, "circle(%.7f,%.7f,%.3f\") # text={%lld}\n",
                        k[2] < 0 ? k[2] + 360 : k[2], k[3], rad, id);
            }
        }
        struct row t = rows[0];
        rows[0] = rows[1];
        rows[1] = rows[2];
        rows[2] = t;
        rows[2].n = 0;
        if (by + 2 < nby)
            draw_row(&p, &w, by + 2, &rows[2]);
    }
    if (fits_close_file(f, &status))
        die_fits(status, "close");
    wcsvfree(&nwcs, &wcs);
    if (fclose(ft) || fclose(fs) || (fr && fclose(fr))) {
        fprintf(stderr, "otf-synth: write error on the catalogues\n");
        return 1;
    }
    for (int k = 0; k < 3; k++) {
        free(rows[k].s);
        free(rows[k].sky);
    }
    free(band);
    free(buf);
    free(snr_def);
    fprintf(stderr, "otf-synth: %s %lldx%lld, %lld sources, sigma %.3g Jy/beam\n", out,
            (long long)p.n, (long long)p.n, n_src, p.sigma);
    return 0;
}
