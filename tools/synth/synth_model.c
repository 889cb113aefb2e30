/* otf-synth sky model: random streams, source counts and morphologies per class, and the
 * analytic (Gaussian) and stamp (exponential disc) rendering of the beam-convolved sky. Numbers
 * follow shared/reference/synthetic-fields.md §2 (B1 counts and size statistics). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"

#define FWHM_SIGMA 2.3548200450309493 /* FWHM / sigma of a Gaussian */
#define DEG        (M_PI / 180.0)

/* ---- random streams ---- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void synth_rng_init(struct synth_rng *r, uint64_t seed, uint64_t k1, uint64_t k2)
{
    uint64_t x = seed;
    x = splitmix(&x) ^ (k1 * 0xd1b54a32d192ed03ULL);
    x = splitmix(&x) ^ (k2 * 0xabc98388fb8fac03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
}

static uint64_t next64(struct synth_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

double synth_rng_uniform(struct synth_rng *r)
{
    return (double)(next64(r) >> 11) * 0x1.0p-53;
}

double synth_rng_normal(struct synth_rng *r)
{
    double u = 1.0 - synth_rng_uniform(r), v = synth_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

long synth_rng_poisson(struct synth_rng *r, double mean)
{
    if (mean <= 0)
        return 0;
    if (mean > 64) {
        double v = floor(mean + sqrt(mean) * synth_rng_normal(r) + 0.5);
        return v < 0 ? 0 : (long)v;
    }
    double l = exp(-mean), p = 1.0;
    long k = 0;
    do {
        k++;
        p *= synth_rng_uniform(r);
    } while (p > l);
    return k - 1;
}

double synth_pixel_normal(uint64_t seed, int64_t x, int64_t y)
{
    uint64_t k = seed ^ 0x6a09e667f3bcc909ULL;
    k ^= (uint64_t)x * 0x9e3779b97f4a7c15ULL + (uint64_t)y * 0xc2b2ae3d27d4eb4fULL;
    uint64_t a = splitmix(&k), b = splitmix(&k);
    double u = 1.0 - (double)(a >> 11) * 0x1.0p-53, v = (double)(b >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* ---- parameters ---- */

int synth_params_finish(struct synth_params *p)
{
    /* band: freq, pixel, beam, sigma_8h (µJy/beam); 1000 h follows the measured B1 ratio */
    static const struct {
        int band;
        double freq, pix, beam, s8;
    } bands[] = {
        {1, 560e6, 0.60, 1.5, 2.9}, {2, 1400e6, 0.24, 0.60, 0.7}, {5, 9200e6, 0.037, 0.0913, 0.43}};
    int i;
    for (i = 0; i < 3 && bands[i].band != p->band; i++)
        ;
    if (i == 3) {
        fprintf(stderr, "otf-synth: band must be 1, 2 or 5\n");
        return -1;
    }
    p->freq_hz = bands[i].freq;
    p->pix_arcsec = bands[i].pix;
    p->beam_arcsec = bands[i].beam;
    p->pb_fwhm_deg = 2.1 * 560e6 / p->freq_hz;
    double s = bands[i].s8;
    if (p->depth_h == 100)
        s *= 0.8 / 2.9;
    else if (p->depth_h == 1000)
        s *= 0.37 / 2.9;
    else if (p->depth_h != 8) {
        fprintf(stderr, "otf-synth: depth must be 8, 100 or 1000 (hours)\n");
        return -1;
    }
    p->sigma = p->noise_sigma >= 0 ? p->noise_sigma : s * 1e-6;
    if (p->min_flux_jy < 0)
        p->min_flux_jy = 0.05 * s * 1e-6;
    if (p->n < 16 || p->n > ((int64_t)1 << 20)) {
        fprintf(stderr, "otf-synth: size must be 16 .. 1048576\n");
        return -1;
    }
    return 0;
}

double synth_pb(const struct synth_params *p, double ra_deg, double dec_deg)
{
    double ra_c = 0, dec_c = -30;
    if (p->pb_mode == 0)
        return 1.0;
    if (p->pb_mode == 2) {
        ra_c = p->ra0_deg;
        dec_c = p->dec0_deg;
    }
    double c = sin(dec_deg * DEG) * sin(dec_c * DEG) +
               cos(dec_deg * DEG) * cos(dec_c * DEG) * cos((ra_deg - ra_c) * DEG);
    double r = acos(c > 1 ? 1 : (c < -1 ? -1 : c)) / DEG;
    return exp(-4.0 * M_LN2 * r * r / (p->pb_fwhm_deg * p->pb_fwhm_deg));
}

/* ---- source counts (N per deg^2 per bin at 560 MHz, µJy edges) ---- */

static const double count_edges[] = {0.01, 0.032, 0.1,  0.32,  1.0,   3.2,   10.0,
                                     32.0, 100.,  320., 1000., 3200., 10000.};
static const double count_n[] = {4100,  9500, 251700, 169400, 106700, 54500,
                                 22900, 7270, 2020,   355,    142,    15};
#define N_BINS (sizeof(count_n) / sizeof(count_n[0]))

static double lognormal(struct synth_rng *r, double median, double sigma_ln)
{
    return median * exp(sigma_ln * synth_rng_normal(r));
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Peak (Jy/beam) of a Gaussian of intrinsic FWHMs w1, w2 (arcsec) and flux s seen by beam b. */
static double gauss_peak(double s, double w1, double w2, double b)
{
    return s * b * b / (sqrt(w1 * w1 + b * b) * sqrt(w2 * w2 + b * b));
}

static void add_comp(const struct synth_params *p, struct synth_source *s, double x, double y,
                     double w1, double w2, double pa, double flux_obs)
{
    struct synth_comp *c = &s->comp[s->n_comp++];
    double b = p->beam_arcsec;
    c->x = x;
    c->y = y;
    c->fwhm_maj_pix = sqrt(w1 * w1 + b * b) / p->pix_arcsec;
    c->fwhm_min_pix = sqrt(w2 * w2 + b * b) / p->pix_arcsec;
    c->pa_deg = pa;
    c->peak = gauss_peak(flux_obs, w1, w2, b);
}

/* Direction of PA (east of north) in pixel coordinates: north = +y, east = -x. */
static void pa_dir(double pa_deg, double *dx, double *dy)
{
    *dx = -sin(pa_deg * DEG);
    *dy = cos(pa_deg * DEG);
}

/* Builds the morphology of a source whose class, flux, core position and PB are set. */
static void make_morphology(const struct synth_params *p, struct synth_rng *r,
                            struct synth_source *s)
{
    const double pix = p->pix_arcsec, beam = p->beam_arcsec;
    const double fo = s->flux_jy * s->pb; /* observed flux */
    const double s_ujy_560 = s->flux_jy * 1e6 * pow(p->freq_hz / 560e6, 0.7);
    double dx, dy;

    s->n_comp = 0;
    s->exp_h_pix = 0;
    s->x_cent = s->x_core;
    s->y_cent = s->y_core;
    if (s->cls == SYNTH_SFG) {
        /* size grows with flux (truth_B1: median FWHM 0.14" at 0.3 µJy, 1.2" at 30 µJy) */
        double fwhm = lognormal(r, 0.75 * pow(s_ujy_560 / 10.0, 0.33), 0.6);
        fwhm = clampd(fwhm, 0.01, 20.0);
        double q = 0.15 + 0.8 * (0.5 + 0.5 * tanh(0.8 * synth_rng_normal(r)));
        s->pa_deg = -90.0 + 180.0 * synth_rng_uniform(r);
        s->core_frac = 0;
        if (fwhm / pix < 3.0) {
            s->size_class = SYNTH_GAUSS;
            s->b_maj = fwhm;
            s->b_min = fwhm * q;
            add_comp(p, s, s->x_core, s->y_core, s->b_maj, s->b_min, s->pa_deg, fo);
            s->peak_jy = s->comp[0].peak;
            s->radius_pix = 3.0 * s->comp[0].fwhm_maj_pix + 2;
        } else {
            double h = fwhm / M_SQRT2; /* scale length, arcsec */
            s->size_class = SYNTH_EXP;
            s->b_maj = h;
            s->b_min = h * q;
            s->exp_h_pix = h / pix;
            s->exp_q = q;
            /* peak of the convolved disc, estimated from the equal-FWHM Gaussian */
            s->peak_jy = gauss_peak(fo, fwhm, fwhm * q, beam);
            s->radius_pix = 7.0 * s->exp_h_pix + 3.0 * beam / pix + 2;
        }
    } else if (s->cls == SYNTH_SS_AGN) {
        double las = clampd(lognormal(r, 4.1, 1.1), 0.5, 90.0);
        double cf = clampd(lognormal(r, 0.006, 1.0), 1e-4, 0.3);
        double f = 0.3 + 0.4 * synth_rng_uniform(r);
        double lobe = (0.15 + 0.15 * synth_rng_uniform(r)) * las;
        double lobe_min = lobe * (0.5 + 0.5 * synth_rng_uniform(r));
        double sep = 0.8 * las / pix, asym = 0.4 + 0.2 * synth_rng_uniform(r);
        s->size_class = SYNTH_LAS;
        s->b_maj = las;
        s->b_min = las * (0.3 + 0.3 * synth_rng_uniform(r));
        s->pa_deg = 360.0 * synth_rng_uniform(r);
        s->core_frac = cf;
        pa_dir(s->pa_deg, &dx, &dy);
        double f1 = (1 - cf) * f, f2 = (1 - cf) * (1 - f);
        double x1 = s->x_core + dx * sep * asym, y1 = s->y_core + dy * sep * asym;
        double x2 = s->x_core - dx * sep * (1 - asym), y2 = s->y_core - dy * sep * (1 - asym);
        add_comp(p, s, s->x_core, s->y_core, 0, 0, 0, fo * cf);
        add_comp(p, s, x1, y1, lobe, lobe_min, s->pa_deg, fo * f1);
        add_comp(p, s, x2, y2, lobe, lobe_min, s->pa_deg, fo * f2);
        s->x_cent = cf * s->x_core + f1 * x1 + f2 * x2;
        s->y_cent = cf * s->y_core + f1 * y1 + f2 * y2;
        s->peak_jy = fmax(s->comp[0].peak, fmax(s->comp[1].peak, s->comp[2].peak));
        s->radius_pix = sep + 3.5 * s->comp[1].fwhm_maj_pix + 2;
    } else {
        double w = clampd(lognormal(r, 0.03, 1.0), 0.002, 2.0);
        double cf = 0.5 + 0.4 * synth_rng_uniform(r);
        s->size_class = SYNTH_GAUSS;
        s->b_maj = s->b_min = w;
        s->pa_deg = 360.0 * synth_rng_uniform(r);
        s->core_frac = cf;
        add_comp(p, s, s->x_core, s->y_core, 0, 0, 0, fo * cf);
        add_comp(p, s, s->x_core, s->y_core, 2 * w, 2 * w, 0, fo * (1 - cf));
        s->peak_jy = s->comp[0].peak + s->comp[1].peak;
        s->radius_pix = 3.0 * s->comp[1].fwhm_maj_pix + 2;
    }
    if (s->radius_pix > SYNTH_BLOCK - 1)
        s->radius_pix = SYNTH_BLOCK - 1;
}

void synth_draw_block(const struct synth_params *p, int64_t bx, int64_t by,
                      struct synth_source **out, size_t *n, size_t *cap)
{
    struct synth_rng r;
    const double side_deg = SYNTH_BLOCK * p->pix_arcsec / 3600.0;
    const double area = side_deg * side_deg;
    const double fscale = pow(p->freq_hz / 560e6, -0.7); /* spectral index -0.7 */
    double f_ss = 0.015, f_fs = 0.015;

    if (p->agn_fraction >= 0)
        f_ss = f_fs = 0.5 * p->agn_fraction;
    *n = 0;
    if (!p->with_sources)
        return;
    synth_rng_init(&r, p->seed, (uint64_t)bx + 1, (uint64_t)by + 1);
    for (size_t b = 0; b < N_BINS; b++) {
        long k = synth_rng_poisson(&r, count_n[b] * area * p->density_scale);
        double l0 = log(count_edges[b]), l1 = log(count_edges[b + 1]);
        for (long i = 0; i < k; i++) {
            struct synth_source s;
            memset(&s, 0, sizeof(s));
            s.flux_jy = exp(l0 + (l1 - l0) * synth_rng_uniform(&r)) * 1e-6 * fscale;
            s.x_core = (double)(bx * SYNTH_BLOCK) - 0.5 + SYNTH_BLOCK * synth_rng_uniform(&r);
            s.y_core = (double)(by * SYNTH_BLOCK) - 0.5 + SYNTH_BLOCK * synth_rng_uniform(&r);
            double u = synth_rng_uniform(&r);
            s.cls = u < f_ss ? SYNTH_SS_AGN : (u < f_ss + f_fs ? SYNTH_FS_AGN : SYNTH_SFG);
            /* a sub-stream per source keeps the morphology draws independent of the count */
            struct synth_rng rs;
            synth_rng_init(&rs, next64(&r), 7, 11);
            if (s.flux_jy < p->min_flux_jy)
                continue;
            if (s.x_core < -0.5 || s.y_core < -0.5 || s.x_core >= (double)p->n - 0.5 ||
                s.y_core >= (double)p->n - 0.5)
                continue;
            /* the primary beam and the morphology are set by the caller (needs the WCS) */
            s.pb = 1.0;
            s.comp[0].x = (double)(int64_t)(next64(&rs) >> 1); /* stream seed for morphology */
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 1024;
                *out = realloc(*out, *cap * sizeof(**out));
                if (!*out) {
                    fprintf(stderr, "otf-synth: out of memory\n");
                    exit(1);
                }
            }
            (*out)[(*n)++] = s;
        }
    }
}

/* Second stage, once the PB is known: the stream seed was parked in comp[0].x. */
void synth_finish_source(const struct synth_params *p, struct synth_source *s, double pb);
void synth_finish_source(const struct synth_params *p, struct synth_source *s, double pb)
{
    struct synth_rng r;
    synth_rng_init(&r, (uint64_t)s->comp[0].x, 13, 17);
    s->pb = pb;
    make_morphology(p, &r, s);
}

/* ---- rendering ---- */

static void add_gauss(const struct synth_params *p, const struct synth_comp *c, double radius,
                      double *band, int64_t y0, int64_t h)
{
    const double k = 4.0 * M_LN2;
    double dx, dy;
    pa_dir(c->pa_deg, &dx, &dy); /* unit vector along the major axis */
    double ia = 1.0 / (c->fwhm_maj_pix * c->fwhm_maj_pix);
    double ib = 1.0 / (c->fwhm_min_pix * c->fwhm_min_pix);
    int64_t ya = (int64_t)floor(c->y - radius), yb = (int64_t)ceil(c->y + radius);
    int64_t xa = (int64_t)floor(c->x - radius), xb = (int64_t)ceil(c->x + radius);
    if (ya < y0)
        ya = y0;
    if (yb > y0 + h - 1)
        yb = y0 + h - 1;
    if (xa < 0)
        xa = 0;
    if (xb > p->n - 1)
        xb = p->n - 1;
    for (int64_t y = ya; y <= yb; y++)
        for (int64_t x = xa; x <= xb; x++) {
            double ux = (double)x - c->x, uy = (double)y - c->y;
            double u = ux * dx + uy * dy, v = -ux * dy + uy * dx;
            double e = k * (u * u * ia + v * v * ib);
            if (e < 40)
                band[(y - y0) * p->n + x] += c->peak * exp(-e);
        }
}

/* Exponential disc: rendered on a 2x sub-grid, convolved with the beam (separable), binned. */
static void add_exp_disc(const struct synth_params *p, const struct synth_source *s, double *band,
                         int64_t y0, int64_t h)
{
    const int64_t r = (int64_t)ceil(s->radius_pix);
    const int64_t cx = (int64_t)floor(s->x_core + 0.5), cy = (int64_t)floor(s->y_core + 0.5);
    if (cy + r < y0 || cy - r > y0 + h - 1)
        return;
    const int64_t side = 2 * r + 1, ss = 2 * side;
    double *a = calloc((size_t)(ss * ss), sizeof(double));
    double *t = calloc((size_t)(ss * ss), sizeof(double));
    const double sig = p->beam_arcsec / p->pix_arcsec / FWHM_SIGMA * 2.0; /* sub-pixels */
    const int kr = (int)ceil(4 * sig);
    double *kern = malloc((size_t)(2 * kr + 1) * sizeof(double)), ksum = 0;
    double dx, dy, tot = 0;
    if (!a || !t || !kern) {
        fprintf(stderr, "otf-synth: out of memory\n");
        exit(1);
    }
    for (int i = -kr; i <= kr; i++)
        ksum += kern[i + kr] = exp(-0.5 * i * i / (sig * sig));
    for (int i = 0; i <= 2 * kr; i++)
        kern[i] /= ksum;
    pa_dir(s->pa_deg, &dx, &dy);
    for (int64_t j = 0; j < ss; j++)
        for (int64_t i = 0; i < ss; i++) {
            /* sub-pixel centre in image coordinates */
            double x = (double)(cx - r) - 0.5 + ((double)i + 0.5) * 0.5;
            double y = (double)(cy - r) - 0.5 + ((double)j + 0.5) * 0.5;
            double ux = x - s->x_core, uy = y - s->y_core;
            double u = ux * dx + uy * dy, v = (-ux * dy + uy * dx) / s->exp_q;
            double e = sqrt(u * u + v * v) / s->exp_h_pix;
            tot += a[j * ss + i] = e < 40 ? exp(-e) : 0;
        }
    const double scale = tot > 0 ? s->flux_jy * s->pb / tot : 0;
    for (int64_t j = 0; j < ss; j++) /* rows */
        for (int64_t i = 0; i < ss; i++) {
            double acc = 0;
            for (int k = -kr; k <= kr; k++)
                if (i + k >= 0 && i + k < ss)
                    acc += kern[k + kr] * a[j * ss + i + k];
            t[j * ss + i] = acc;
        }
    for (int64_t j = 0; j < ss; j++) /* columns */
        for (int64_t i = 0; i < ss; i++) {
            double acc = 0;
            for (int k = -kr; k <= kr; k++)
                if (j + k >= 0 && j + k < ss)
                    acc += kern[k + kr] * t[(j + k) * ss + i];
            a[j * ss + i] = acc;
        }
    /* Jy per pixel -> Jy/beam: times the beam area in pixels */
    const double bpix = p->beam_arcsec / p->pix_arcsec;
    const double barea = M_PI * bpix * bpix / (4.0 * M_LN2);
    for (int64_t j = 0; j < side; j++) {
        int64_t y = cy - r + j;
        if (y < y0 || y >= y0 + h)
            continue;
        for (int64_t i = 0; i < side; i++) {
            int64_t x = cx - r + i;
            if (x < 0 || x >= p->n)
                continue;
            double v = a[2 * j * ss + 2 * i] + a[2 * j * ss + 2 * i + 1] +
                       a[(2 * j + 1) * ss + 2 * i] + a[(2 * j + 1) * ss + 2 * i + 1];
            band[(y - y0) * p->n + x] += v * scale * barea;
        }
    }
    free(a);
    free(t);
    free(kern);
}

void synth_render(const struct synth_params *p, const struct synth_source *s, double *band,
                  int64_t y0, int64_t h)
{
    if (s->y_cent + s->radius_pix + 1 < (double)y0 ||
        s->y_cent - s->radius_pix - 1 > (double)(y0 + h))
        return;
    if (s->exp_h_pix > 0) {
        add_exp_disc(p, s, band, y0, h);
        return;
    }
    for (int i = 0; i < s->n_comp; i++) {
        const struct synth_comp *c = &s->comp[i];
        double rad = 3.5 * c->fwhm_maj_pix + 1;
        if (rad > SYNTH_BLOCK - 1)
            rad = SYNTH_BLOCK - 1;
        add_gauss(p, c, rad, band, y0, h);
    }
}

/* ---- noise ---- */

/* 1-D noise kernel, separable in x and y: a Gaussian main lobe minus a wider Gaussian (the
 * negative sidelobes of a dirty beam), widths in pixels for a beam of 2.5 pixels. */
struct noise_axis {
    double s1, a, s2;
};

/* SDC1-like noise: the autocorrelation of the source-free pixels of the real SDC1 B1 1000 h
 * image (tests/data/real/B1_1000h_0.05tr.fits, pixels more than 3 pixels from any
 * 2.5-sigma pixel) is narrower than the 1.5" restoring beam and goes negative: 0.63 / 0.08 /
 * -0.10 at lags 1 / 2 / 3 pixels along x, 0.70 / 0.19 / -0.05 along y, where white noise
 * through the beam gives 0.80 / 0.41 / 0.14. These kernels reproduce it to 0.01 rms. */
static const struct noise_axis noise_sdc1_x = {0.794, 0.056, 4.144};
static const struct noise_axis noise_sdc1_y = {1.128, 0.532, 1.405};

static double *noise_kernel(const struct noise_axis *ax, double scale, int *kr_out, double *k2)
{
    const double s1 = ax->s1 * scale, s2 = ax->s2 * scale;
    const int kr = (int)ceil(4 * (ax->a > 0 ? fmax(s1, s2) : s1));
    double *k = malloc((size_t)(2 * kr + 1) * sizeof(double));
    if (!k) {
        fprintf(stderr, "otf-synth: out of memory\n");
        exit(1);
    }
    *k2 = 0;
    for (int i = -kr; i <= kr; i++) {
        k[i + kr] = exp(-0.5 * i * i / (s1 * s1));
        if (ax->a > 0)
            k[i + kr] -= ax->a * exp(-0.5 * i * i / (s2 * s2));
        *k2 += k[i + kr] * k[i + kr];
    }
    *kr_out = kr;
    return k;
}

void synth_add_noise(const struct synth_params *p, double *band, int64_t y0, int64_t h)
{
    const double beam_pix = p->beam_arcsec / p->pix_arcsec;
    const struct noise_axis beam = {beam_pix / FWHM_SIGMA, 0, 0};
    const struct noise_axis *ax = p->noise_psf ? &noise_sdc1_x : &beam;
    const struct noise_axis *ay = p->noise_psf ? &noise_sdc1_y : &beam;
    const double scale = p->noise_psf ? beam_pix / 2.5 : 1.0;
    int krx, kry;
    double kx2, ky2;
    double *kx = noise_kernel(ax, scale, &krx, &kx2);
    double *ky = noise_kernel(ay, scale, &kry, &ky2);
    const int64_t n = p->n, w = n + 2 * krx, hh = h + 2 * kry;
    float *white = malloc((size_t)(w * hh) * sizeof(float));
    float *tmp = malloc((size_t)(n * hh) * sizeof(float));
    if (!white || !tmp) {
        fprintf(stderr, "otf-synth: out of memory\n");
        exit(1);
    }
    /* separable kernel kx_i ky_j: output variance = sum kx^2 * sum ky^2 for unit white noise */
    const double norm = p->sigma / sqrt(kx2 * ky2);
    for (int64_t j = 0; j < hh; j++)
        for (int64_t i = 0; i < w; i++)
            white[j * w + i] = (float)synth_pixel_normal(p->seed, i - krx, y0 + j - kry);
    for (int64_t j = 0; j < hh; j++)
        for (int64_t i = 0; i < n; i++) {
            double acc = 0;
            for (int k = 0; k <= 2 * krx; k++)
                acc += kx[k] * white[j * w + i + k];
            tmp[j * n + i] = (float)acc;
        }
    for (int64_t j = 0; j < h; j++)
        for (int64_t i = 0; i < n; i++) {
            double acc = 0;
            for (int k = 0; k <= 2 * kry; k++)
                acc += ky[k] * tmp[(j + k) * n + i];
            band[j * n + i] += acc * norm;
        }
    free(kx);
    free(ky);
    free(white);
    free(tmp);
}
