/* otf-gui: display stretches, colour maps and display limits (zscale, percentiles). The
 * lookup table folds limits, stretch and colour map into OTF_GUI_LUT_SIZE colours so that a
 * frame costs one multiply and one load per widget pixel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apps/otf-gui/gui_logic.h"

static const char *const stretch_names[] = {"linear", "sqrt", "asinh", "log"};
static const char *const limits_names[] = {"zscale", "99.5%", "99%", "95%", "minmax"};
static const char *const cmap_names[] = {"grey", "inferno", "viridis", "heat", "cool"};

const char *otf_gui_stretch_name(enum otf_gui_stretch s)
{
    return (unsigned)s < OTF_GUI_STRETCH__COUNT ? stretch_names[s] : "linear";
}

const char *otf_gui_limits_name(enum otf_gui_limits l)
{
    return (unsigned)l < OTF_GUI_LIMITS__COUNT ? limits_names[l] : "zscale";
}

const char *otf_gui_cmap_name(enum otf_gui_cmap c)
{
    return (unsigned)c < OTF_GUI_CMAP__COUNT ? cmap_names[c] : "grey";
}

static int find_name(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

int otf_gui_stretch_parse(const char *s)
{
    return find_name(stretch_names, OTF_GUI_STRETCH__COUNT, s);
}

int otf_gui_limits_parse(const char *s)
{
    return find_name(limits_names, OTF_GUI_LIMITS__COUNT, s);
}

int otf_gui_cmap_parse(const char *s)
{
    return find_name(cmap_names, OTF_GUI_CMAP__COUNT, s);
}

/* asinh and log shapes of DS9/astropy: a = 0.1 puts the knee at a tenth of the range;
 * log uses astropy's a = 1000. */
#define ASINH_A 0.1
#define LOG_A   1000.0

double otf_gui_stretch_apply(enum otf_gui_stretch s, double t)
{
    if (!(t > 0))
        return 0;
    if (t >= 1)
        return 1;
    switch (s) {
    case OTF_GUI_STRETCH_SQRT:
        return sqrt(t);
    case OTF_GUI_STRETCH_ASINH:
        return asinh(t / ASINH_A) / asinh(1 / ASINH_A);
    case OTF_GUI_STRETCH_LOG:
        return log(LOG_A * t + 1) / log(LOG_A + 1);
    default:
        return t;
    }
}

/* Colour maps as piecewise-linear control points (t, r, g, b), t ascending from 0 to 1. */
struct stop {
    double t, r, g, b;
};

static const struct stop grey_stops[] = {{0, 0, 0, 0}, {1, 1, 1, 1}};
/* matplotlib's inferno and viridis at a few points (perceptually uniform enough when linearly
 * interpolated between them). */
static const struct stop inferno_stops[] = {
    {0.0, 0.0015, 0.0005, 0.0139},   {0.143, 0.1578, 0.0440, 0.3296},
    {0.286, 0.3961, 0.0832, 0.4331}, {0.429, 0.6225, 0.1649, 0.3882},
    {0.571, 0.8312, 0.2838, 0.2589}, {0.714, 0.9610, 0.4903, 0.0836},
    {0.857, 0.9805, 0.7560, 0.1527}, {1.0, 0.9884, 0.9984, 0.6449},
};
static const struct stop viridis_stops[] = {
    {0.0, 0.2670, 0.0049, 0.3294},  {0.25, 0.2302, 0.3223, 0.5457}, {0.5, 0.1282, 0.5651, 0.5509},
    {0.75, 0.3693, 0.7889, 0.3828}, {1.0, 0.9932, 0.9062, 0.1439},
};
/* SAOImage DS9's "heat" and "cool". */
static const struct stop heat_stops[] = {
    {0, 0, 0, 0}, {0.34, 1, 0.34, 0}, {0.65, 1, 0.65, 0}, {0.98, 1, 0.98, 1}, {1, 1, 1, 1},
};
static const struct stop cool_stops[] = {
    {0, 0, 0, 0},         {0.22, 0, 0, 0.4151},   {0.29, 0, 0.0946, 0.5472},
    {0.53, 0, 0.4189, 1}, {0.76, 0.1, 0.7297, 1}, {0.96, 0.7, 1, 1},
    {1, 1, 1, 1},
};

static void cmap_eval(enum otf_gui_cmap c, double t, double rgb[3])
{
    const struct stop *s;
    size_t n, i;

    switch (c) {
    case OTF_GUI_CMAP_INFERNO:
        s = inferno_stops, n = sizeof inferno_stops / sizeof *s;
        break;
    case OTF_GUI_CMAP_VIRIDIS:
        s = viridis_stops, n = sizeof viridis_stops / sizeof *s;
        break;
    case OTF_GUI_CMAP_HEAT:
        s = heat_stops, n = sizeof heat_stops / sizeof *s;
        break;
    case OTF_GUI_CMAP_COOL:
        s = cool_stops, n = sizeof cool_stops / sizeof *s;
        break;
    default:
        s = grey_stops, n = sizeof grey_stops / sizeof *s;
    }
    for (i = 1; i < n - 1 && t > s[i].t; i++)
        ;
    {
        double f = (t - s[i - 1].t) / (s[i].t - s[i - 1].t);
        f = f < 0 ? 0 : (f > 1 ? 1 : f);
        rgb[0] = s[i - 1].r + f * (s[i].r - s[i - 1].r);
        rgb[1] = s[i - 1].g + f * (s[i].g - s[i - 1].g);
        rgb[2] = s[i - 1].b + f * (s[i].b - s[i - 1].b);
    }
}

static uint32_t pack(double r, double g, double b)
{
    uint32_t R = (uint32_t)lround(r * 255), G = (uint32_t)lround(g * 255),
             B = (uint32_t)lround(b * 255);
    return 0xff000000u | R << 16 | G << 8 | B;
}

void otf_gui_lut_build(struct otf_gui_lut *lut, double lo, double hi, enum otf_gui_stretch s,
                       enum otf_gui_cmap c, int invert)
{
    if (!isfinite(lo))
        lo = 0;
    if (!isfinite(hi) || hi <= lo)
        hi = lo + 1;
    lut->lo = lo;
    lut->hi = hi;
    lut->scale = (OTF_GUI_LUT_SIZE - 1) / (hi - lo);
    /* Magenta: no colour map above reaches full red and blue with no green. */
    lut->nan = pack(1, 0, 1);
    for (int i = 0; i < OTF_GUI_LUT_SIZE; i++) {
        double t = otf_gui_stretch_apply(s, (double)i / (OTF_GUI_LUT_SIZE - 1)), rgb[3];
        cmap_eval(c, invert ? 1 - t : t, rgb);
        lut->table[i] = pack(rgb[0], rgb[1], rgb[2]);
    }
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* numpy's linear interpolation between order statistics of a sorted array. */
static double quantile(const float *s, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    double f = pos - (double)i;
    if (i + 1 >= n)
        return s[n - 1];
    return s[i] + f * (s[i + 1] - s[i]);
}

/* IRAF zscale as astropy's ZScaleInterval: a line fitted to the sorted sample with iterative
 * 2.5-sigma rejection (grown by 1 % of the sample), its slope divided by the contrast 0.25. */
static void zscale(const float *s, size_t n, double *lo, double *hi)
{
    const double krej = 2.5, contrast = 0.25;
    const size_t min_npix = n / 2 > 5 ? n / 2 : 5;
    size_t ngood = n, last = n + 1, grow = n / 100 > 1 ? n / 100 : 1;
    unsigned char *bad = calloc(n, 1), *nb = calloc(n, 1);
    double slope = 0, icpt = s[0];
    int fitted = 0;

    if (!bad || !nb)
        goto fallback;
    for (int it = 0; it < 5; it++) {
        double sx = 0, sy = 0, sxx = 0, sxy = 0, m = 0, mean = 0, var = 0, thr;
        if (ngood >= last || ngood < min_npix)
            break;
        for (size_t i = 0; i < n; i++)
            if (!bad[i]) {
                double x = (double)i;
                sx += x, sy += s[i], sxx += x * x, sxy += x * s[i], m += 1;
            }
        if (m < 2 || m * sxx - sx * sx == 0)
            break;
        slope = (m * sxy - sx * sy) / (m * sxx - sx * sx);
        icpt = (sy - slope * sx) / m;
        fitted = 1;
        for (size_t i = 0; i < n; i++)
            if (!bad[i])
                mean += s[i] - (icpt + slope * (double)i);
        mean /= m;
        for (size_t i = 0; i < n; i++)
            if (!bad[i]) {
                double d = s[i] - (icpt + slope * (double)i) - mean;
                var += d * d;
            }
        thr = krej * sqrt(var / m);
        memcpy(nb, bad, n);
        for (size_t i = 0; i < n; i++) {
            double f = s[i] - (icpt + slope * (double)i);
            if (f < -thr || f > thr) {
                /* grow the rejection over the neighbours, as the convolution in astropy */
                size_t a = i >= grow / 2 ? i - grow / 2 : 0, b = i + (grow - 1) / 2;
                for (size_t k = a; k <= b && k < n; k++)
                    nb[k] = 1;
            }
        }
        memcpy(bad, nb, n);
        last = ngood;
        ngood = 0;
        for (size_t i = 0; i < n; i++)
            ngood += !bad[i];
    }
    if (fitted && ngood >= min_npix) {
        size_t centre = (n - 1) / 2;
        double median = quantile(s, n, 0.5);
        slope /= contrast;
        *lo = fmax(s[0], median - ((double)centre - 1) * slope);
        *hi = fmin(s[n - 1], median + (double)(n - centre) * slope);
        free(bad);
        free(nb);
        return;
    }
fallback:
    free(bad);
    free(nb);
    *lo = s[0];
    *hi = s[n - 1];
}

int otf_gui_limits_compute(float *v, size_t n, enum otf_gui_limits mode, double *lo, double *hi)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            v[m++] = v[i];
    if (m == 0)
        return -1;
    qsort(v, m, sizeof *v, cmp_float);
    switch (mode) {
    case OTF_GUI_LIMITS_P995:
        *lo = quantile(v, m, 0.0025), *hi = quantile(v, m, 0.9975);
        break;
    case OTF_GUI_LIMITS_P99:
        *lo = quantile(v, m, 0.005), *hi = quantile(v, m, 0.995);
        break;
    case OTF_GUI_LIMITS_P95:
        *lo = quantile(v, m, 0.025), *hi = quantile(v, m, 0.975);
        break;
    case OTF_GUI_LIMITS_MINMAX:
        *lo = v[0], *hi = v[m - 1];
        break;
    default: {
        /* zscale looks at about 1000 values, as IRAF and astropy do */
        size_t k = m > 1000 ? 1000 : m;
        float *s = v;
        if (k < m) {
            for (size_t i = 0; i < k; i++)
                v[i] = v[i * (m - 1) / (k - 1)]; /* increasing indices: in-place is safe */
        }
        zscale(s, k, lo, hi);
    }
    }
    if (!(*hi > *lo))
        *hi = *lo + 1;
    return 0;
}
