/* otf-synth: SDC1-like synthetic radio fields with an exact truth catalogue
 * (shared/reference/synthetic-fields.md, "Synthetic-field generator spec"). Everything is a pure
 * function of the seed: sources are drawn per 256-px block from a block-keyed random stream and
 * the noise from a pixel-keyed one, so any band of rows can be rendered on its own and the image
 * is written band by band, never held whole in memory. */
#ifndef OTF_SYNTH_H
#define OTF_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#define SYNTH_BLOCK 256 /* pixels: source-drawing block and band height */

enum synth_class { SYNTH_SS_AGN = 1, SYNTH_FS_AGN = 2, SYNTH_SFG = 3 };
enum synth_size { SYNTH_LAS = 1, SYNTH_GAUSS = 2, SYNTH_EXP = 3 };

/* One elliptical Gaussian component as observed: position, FWHMs with the beam added in
 * quadrature (pixels), PA east of north (deg) and peak (Jy/beam, primary beam applied). */
struct synth_comp {
    double x, y;
    double fwhm_maj_pix, fwhm_min_pix;
    double pa_deg;
    double peak;
};

/* One truth source. Positions are 0-based pixel coordinates (pixel i centred on i). */
struct synth_source {
    enum synth_class cls;
    enum synth_size size_class;
    double x_core, y_core, x_cent, y_cent;
    double flux_jy;      /* intrinsic integrated flux (primary-beam corrected) */
    double core_frac;    /* 0 for SFGs */
    double b_maj, b_min; /* arcsec, in the unit of size_class */
    double pa_deg;       /* east of north */
    double pb;           /* primary beam at the core */
    double peak_jy;      /* observed peak brightness, Jy/beam (primary beam applied) */
    int n_comp;          /* Gaussian components (0 for an exponential disc) */
    struct synth_comp comp[4];
    double exp_h_pix;  /* exponential disc: scale length, pixels (0 otherwise) */
    double exp_q;      /* axis ratio of the disc */
    double radius_pix; /* footprint radius around (x_cent, y_cent) */
};

struct synth_params {
    int64_t n;   /* image side, pixels */
    int band;    /* 1, 2 or 5 */
    int depth_h; /* 8, 100 or 1000 */
    uint64_t seed;
    double ra0_deg, dec0_deg; /* image centre */
    double density_scale;
    double agn_fraction; /* < 0: the SDC1 mix */
    int header_4d;       /* 1: SDC1 4-D header; 0: plain 2-D */
    int nan_border;      /* blank outside the inscribed circle */
    int ncp;             /* RA---NCP/DEC--NCP instead of SIN */
    int bitpix;          /* -32 or -64 */
    int pb_mode;         /* 0 none, 1 parent SDC1 centre (RA 0, Dec -30), 2 image centre */
    int with_noise, with_sources;
    double noise_sigma; /* Jy/beam; < 0: from band and depth */
    int noise_psf;      /* 0: white noise through the restoring beam; 1: SDC1-like (dirty) */
    double min_flux_jy; /* sources below this are not drawn; < 0: 0.05 sigma */
    /* derived by synth_params_finish() */
    double freq_hz, pix_arcsec, beam_arcsec, pb_fwhm_deg, sigma;
};

/* Fills the derived fields; returns 0, or -1 with a message on stderr. */
int synth_params_finish(struct synth_params *p);

/* Counter-based random stream (splitmix64 keyed; xoshiro256** state). */
struct synth_rng {
    uint64_t s[4];
};
void synth_rng_init(struct synth_rng *r, uint64_t seed, uint64_t k1, uint64_t k2);
double synth_rng_uniform(struct synth_rng *r); /* [0, 1) */
double synth_rng_normal(struct synth_rng *r);
long synth_rng_poisson(struct synth_rng *r, double mean);
/* Standard normal value keyed by (seed, x, y): the same pixel always gets the same value. */
double synth_pixel_normal(uint64_t seed, int64_t x, int64_t y);

/* Draws the sources of block (bx, by) into *out (realloc'ed; *n set). Only sources whose core
 * lies in the image are kept. Deterministic in (params, bx, by). */
void synth_draw_block(const struct synth_params *p, int64_t bx, int64_t by,
                      struct synth_source **out, size_t *n, size_t *cap);

/* Adds the source to rows [y0, y0+h) of a band of width p->n (Jy/beam). */
void synth_render(const struct synth_params *p, const struct synth_source *s, double *band,
                  int64_t y0, int64_t h);

/* Adds correlated noise (white noise convolved with the beam, rescaled to p->sigma) to rows
 * [y0, y0+h) of the band. */
void synth_add_noise(const struct synth_params *p, double *band, int64_t y0, int64_t h);

/* Primary beam at pixel (x, y). */
double synth_pb(const struct synth_params *p, double ra_deg, double dec_deg);

#endif
