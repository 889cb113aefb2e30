/* otf score: the SKA SDC1 score of a catalogue against a truth catalogue, computed the way the
 * official scorer (ska_sdc 1.0.7, Sdc1Scorer) does it (shared/reference/synthetic-fields.md §3:
 * prepare, cross-match within the submitted source's convolved size, multi-dimensional sieve,
 * seven per-source components, one point off per false detection), plus completeness versus
 * SNR, purity and flux/size/position errors. Design and definitions: docs/quality.md. */
#include <ctype.h>
#include <getopt.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apps/otf/otf_cli.h"
#include "core/core.h"

#define DEG2RAD      (M_PI / 180.0)
#define LAS_TO_GAUSS (1.0 / 2.123) /* LAS = 5 sigma = 2.123 FWHM */
#define EXP_TO_GAUSS 1.4142135623730951
#define MULTID_MAX   5.0 /* matches with multi_d_err >= this are rejected */
#define N_SNR_BINS   8

/* One catalogue row in the SDC1 columns (flux Jy, sizes arcsec, angles deg). */
struct row {
    double id, ra_core, dec_core, ra_cent, dec_cent, flux, core_frac, b_maj, b_min, pa;
    int size, cls;
    double conv_size; /* arcsec, set by prepare() */
    double snr;       /* truth only: flux * PB / sigma */
};

struct cat {
    size_t n, cap;
    struct row *r;
};

struct opts {
    int mode_centroid;
    double freq_mhz;
    int area;     /* 0 all, 1 training area only (train=True), 2 outside it (train=False) */
    int pb_model; /* 0 none, 1 SDC1 Gaussian model, 2 constant */
    double pb_value;
    double sigma;
    int json;
    const char *format; /* auto, votable, sdc1 */
    const char *matches_path;
};

static void usage_score(FILE *f)
{
    fprintf(
        f, "usage: otf score SUBMISSION TRUTH [options]\n"
           "  SKA SDC1 score of SUBMISSION (our VOTable, or the SDC1 12-column text format with\n"
           "  one header row) against TRUTH (SDC1 text, no header), plus completeness vs SNR,\n"
           "  purity and parameter errors.\n"
           "      --format auto|votable|sdc1   submission format (default: by content)\n"
           "      --mode core|centroid  positions cross-matched (default core, as SDC1)\n"
           "      --freq 560|1400|9200  band centre, MHz (default 560)\n"
           "      --area all|train|challenge  keep every source (default), only the SDC1\n"
           "                            training area (train=True) or only outside it\n"
           "      --pb none|sdc1|VALUE  divide submitted fluxes by the primary beam: the SDC1\n"
           "                            Gaussian model (FWHM 2.1 deg x 560/freq at RA 0, Dec -30)\n"
           "                            or a constant; also used for the truth SNR (default none)\n"
           "      --sigma JY            image noise for SNR = flux x PB / sigma (default 3.7e-7)\n"
           "      --matches FILE        write the accepted matches, one per line\n"
           "      --json                JSON on stdout\n");
}

static void cat_push(struct cat *c, const struct row *r)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->r = otf_xrealloc(c->r, c->cap * sizeof(*c->r));
    }
    c->r[c->n++] = *r;
}

/* SDC1 text: 12 whitespace-separated numbers per row. A first line that is not numeric is the
 * header (the scorer skips one header row of a submission); '#' lines are comments. */
static int read_sdc1(const char *path, struct cat *c)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    long lineno = 0, n_data = 0;
    if (!f) {
        fprintf(stderr, "otf score: cannot open %s\n", path);
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        double v[12];
        char *p = line, *end;
        int k;
        lineno++;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        for (k = 0; k < 12; k++) {
            v[k] = strtod(p, &end);
            if (end == p)
                break;
            p = end;
        }
        while (isspace((unsigned char)*p))
            p++;
        if (k < 12 || *p) {
            if (n_data == 0 && lineno <= 2 && k == 0)
                continue; /* header row */
            fprintf(stderr, "otf score: %s:%ld: want 12 numeric columns\n", path, lineno);
            fclose(f);
            return -1;
        }
        struct row r = {v[0], v[1], v[2], v[3],       v[4],       v[5], v[6],
                        v[7], v[8], v[9], (int)v[10], (int)v[11], 0,    0};
        cat_push(c, &r);
        n_data++;
    }
    fclose(f);
    return 0;
}

static int name_is(const xmlChar *name, const char *want)
{
    return name && strcasecmp((const char *)name, want) == 0;
}

/* Our VOTable (TABLEDATA): columns ra, dec, flux, bmaj, bmin, pa by name; optional core_frac,
 * size, class; others ignored. Missing SDC1 columns take the SFG defaults (core_frac 0, size 2
 * = Gaussian FWHM, class 3). */
static int read_votable(const char *path, struct cat *c)
{
    enum { RA, DEC, FLUX, BMAJ, BMIN, PA, CF, SIZE, CLS, NCOL };
    static const char *names[NCOL] = {"ra", "dec",       "flux", "bmaj", "bmin",
                                      "pa", "core_frac", "size", "class"};
    int col[NCOL];
    xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_HUGE);
    xmlNodePtr table = NULL;
    int rc = -1, nfield = 0;

    for (int k = 0; k < NCOL; k++)
        col[k] = -1;
    if (!doc) {
        fprintf(stderr, "otf score: %s is not readable XML\n", path);
        return -1;
    }
    /* first TABLE anywhere under VOTABLE/RESOURCE */
    for (xmlNodePtr n = xmlDocGetRootElement(doc); n && !table;) {
        if (n->type == XML_ELEMENT_NODE && name_is(n->name, "TABLE")) {
            table = n;
            break;
        }
        if (n->children)
            n = n->children;
        else {
            while (n && !n->next)
                n = n->parent;
            if (n)
                n = n->next;
        }
    }
    if (!table) {
        fprintf(stderr, "otf score: %s has no TABLE\n", path);
        goto out;
    }
    for (xmlNodePtr n = table->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (name_is(n->name, "FIELD")) {
            xmlChar *nm = xmlGetProp(n, BAD_CAST "name");
            for (int k = 0; k < NCOL; k++)
                if (col[k] < 0 && name_is(nm, names[k]))
                    col[k] = nfield;
            xmlFree(nm);
            nfield++;
        } else if (name_is(n->name, "DATA")) {
            xmlNodePtr td = NULL;
            for (xmlNodePtr d = n->children; d; d = d->next)
                if (d->type == XML_ELEMENT_NODE && name_is(d->name, "TABLEDATA"))
                    td = d;
            if (!td) {
                fprintf(stderr, "otf score: %s: only TABLEDATA serialisation is read\n", path);
                goto out;
            }
            if (col[RA] < 0 || col[DEC] < 0 || col[FLUX] < 0) {
                fprintf(stderr, "otf score: %s: need columns ra, dec and flux\n", path);
                goto out;
            }
            for (xmlNodePtr tr = td->children; tr; tr = tr->next) {
                double v[NCOL];
                int i = 0;
                if (tr->type != XML_ELEMENT_NODE || !name_is(tr->name, "TR"))
                    continue;
                for (int k = 0; k < NCOL; k++)
                    v[k] = NAN;
                for (xmlNodePtr cell = tr->children; cell; cell = cell->next) {
                    if (cell->type != XML_ELEMENT_NODE || !name_is(cell->name, "TD"))
                        continue;
                    xmlChar *s = xmlNodeGetContent(cell);
                    for (int k = 0; k < NCOL; k++)
                        if (col[k] == i) {
                            char *end;
                            double x = s ? strtod((const char *)s, &end) : NAN;
                            v[k] = s && end != (char *)s ? x : NAN;
                        }
                    xmlFree(s);
                    i++;
                }
                struct row r = {(double)(c->n + 1),
                                v[RA],
                                v[DEC],
                                v[RA],
                                v[DEC],
                                v[FLUX],
                                col[CF] >= 0 ? v[CF] : 0.0,
                                col[BMAJ] >= 0 ? v[BMAJ] : 0.0,
                                col[BMIN] >= 0 ? v[BMIN] : 0.0,
                                col[PA] >= 0 ? v[PA] : 0.0,
                                col[SIZE] >= 0 && isfinite(v[SIZE]) ? (int)v[SIZE] : 2,
                                col[CLS] >= 0 && isfinite(v[CLS]) ? (int)v[CLS] : 3,
                                0,
                                0};
                cat_push(c, &r);
            }
        }
    }
    rc = 0;
out:
    xmlFreeDoc(doc);
    return rc;
}

static int looks_like_xml(const char *path)
{
    FILE *f = fopen(path, "r");
    int ch;
    if (!f)
        return 0;
    do
        ch = fgetc(f);
    while (ch != EOF && isspace(ch));
    fclose(f);
    return ch == '<';
}

static double size_to_gauss(int size)
{
    return size == 1 ? LAS_TO_GAUSS : (size == 3 ? EXP_TO_GAUSS : 1.0);
}

/* Factor taking a size of class `from` to class `to` (score_helper.correct_size_s). */
static double size_convert(int from, int to)
{
    if (from == to || from < 1 || from > 3 || to < 1 || to > 3)
        return 1.0;
    return size_to_gauss(from) / size_to_gauss(to);
}

/* SDC1 primary beam model: Gaussian, FWHM 2.1 deg at 560 MHz scaled 1/nu, on RA 0, Dec -30. */
static double pb_sdc1(double freq_mhz, double ra, double dec)
{
    double fwhm = 2.1 * 560.0 / freq_mhz;
    double c = sin(dec * DEG2RAD) * sin(-30.0 * DEG2RAD) +
               cos(dec * DEG2RAD) * cos(-30.0 * DEG2RAD) * cos(ra * DEG2RAD);
    double r = acos(c > 1 ? 1 : (c < -1 ? -1 : c)) / DEG2RAD;
    return exp(-4.0 * M_LN2 * r * r / (fwhm * fwhm));
}

/* Great-circle separation, arcsec (astropy's Vincenty form). */
static double sep_arcsec(double ra1, double dec1, double ra2, double dec2)
{
    double dl = (ra2 - ra1) * DEG2RAD, p1 = dec1 * DEG2RAD, p2 = dec2 * DEG2RAD;
    double a = cos(p2) * sin(dl), b = cos(p1) * sin(p2) - sin(p1) * cos(p2) * cos(dl);
    double d = sin(p1) * sin(p2) + cos(p1) * cos(p2) * cos(dl);
    return atan2(hypot(a, b), d) / DEG2RAD * 3600.0;
}

/* Training-area box (strict inequalities on the core position), per frequency. */
static int in_train_area(double freq_mhz, double ra, double dec)
{
    double ra0, dec0, dec1 = -29.9400;
    if (freq_mhz == 1400) {
        ra0 = -0.2688;
        dec0 = -29.7265;
    } else if (freq_mhz == 9200) {
        ra0 = -0.04092;
        dec0 = -29.9074;
    } else {
        ra0 = -0.6723;
        dec0 = -29.4061;
    }
    return ra > ra0 && ra < 0 && dec > dec1 && dec < dec0;
}

/* ska_sdc prep: NaN rows out; a column with any negative value keeps only its positive rows;
 * RA > 180 mapped down; area crop; conv_size. */
static void prepare(struct cat *c, const struct opts *o)
{
    const double beam = 0.25 * 1400.0 / o->freq_mhz;
    size_t k = 0;
    int neg[4] = {0, 0, 0, 0};

    for (size_t i = 0; i < c->n; i++) {
        const struct row *r = &c->r[i];
        neg[0] |= r->flux < 0;
        neg[1] |= r->core_frac < 0;
        neg[2] |= r->b_min < 0;
        neg[3] |= r->b_maj < 0;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct row r = c->r[i];
        double all = r.id + r.ra_core + r.dec_core + r.ra_cent + r.dec_cent + r.flux + r.core_frac +
                     r.b_maj + r.b_min + r.pa;
        if (isnan(all))
            continue;
        if ((neg[0] && !(r.flux > 0)) || (neg[1] && !(r.core_frac > 0)) ||
            (neg[2] && !(r.b_min > 0)) || (neg[3] && !(r.b_maj > 0)))
            continue;
        if (r.ra_core > 180)
            r.ra_core -= 360;
        if (r.ra_cent > 180)
            r.ra_cent -= 360;
        if (o->area == 1 && !in_train_area(o->freq_mhz, r.ra_core, r.dec_core))
            continue;
        if (o->area == 2 && in_train_area(o->freq_mhz, r.ra_core, r.dec_core))
            continue;
        double smax = fmax(r.b_maj, r.b_min) * size_to_gauss(r.size);
        r.conv_size = sqrt(smax * smax + beam * beam);
        c->r[k++] = r;
    }
    c->n = k;
}

/* Truth positions bucketed on a grid of `cell` degrees for the radius search (the scorer's
 * KD-tree: plain degrees, no cos(dec)). */
struct grid {
    double cell;
    size_t n;
    size_t *idx;  /* truth indices sorted by key */
    int64_t *key; /* key of each sorted entry */
};

static int64_t cell_key(int64_t cx, int64_t cy)
{
    return cy * 4194304 + cx;
}

static const struct cat *g_truth_for_sort;
static int g_centroid_for_sort;
static double g_cell_for_sort;

static void pos_of(const struct row *r, int centroid, double *ra, double *dec)
{
    *ra = centroid ? r->ra_cent : r->ra_core;
    *dec = centroid ? r->dec_cent : r->dec_core;
}

static int64_t key_of(const struct row *r, int centroid, double cell)
{
    double ra, dec;
    pos_of(r, centroid, &ra, &dec);
    return cell_key((int64_t)floor((ra + 360.0) / cell), (int64_t)floor((dec + 90.0) / cell));
}

static int cmp_idx(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int64_t ki = key_of(&g_truth_for_sort->r[i], g_centroid_for_sort, g_cell_for_sort);
    int64_t kj = key_of(&g_truth_for_sort->r[j], g_centroid_for_sort, g_cell_for_sort);
    if (ki != kj)
        return ki < kj ? -1 : 1;
    return i < j ? -1 : (i > j);
}

static void grid_build(struct grid *g, const struct cat *t, int centroid, double cell)
{
    g->cell = cell;
    g->n = t->n;
    g->idx = otf_xmalloc((t->n ? t->n : 1) * sizeof(size_t));
    g->key = otf_xmalloc((t->n ? t->n : 1) * sizeof(int64_t));
    for (size_t i = 0; i < t->n; i++)
        g->idx[i] = i;
    g_truth_for_sort = t;
    g_centroid_for_sort = centroid;
    g_cell_for_sort = cell;
    qsort(g->idx, t->n, sizeof(size_t), cmp_idx);
    for (size_t i = 0; i < t->n; i++)
        g->key[i] = key_of(&t->r[g->idx[i]], centroid, cell);
}

static size_t lower_bound(const int64_t *k, size_t n, int64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct match {
    size_t sub, truth;
    double md; /* multi_d_err */
};

/* Components of one match (score_helper), each in [0, 1]. */
struct comps {
    double pos, flux, bmaj, bmin, pa, cf, cls;
};

static double capped(double thr, double acc)
{
    if (isnan(acc))
        return 0.0; /* 0/0: undefined accuracy scores nothing */
    if (acc == 0)
        return 1.0;
    return fmin(1.0, thr / acc);
}

static double fold_pa(double pa)
{
    if (pa > 180)
        pa -= 180;
    if (pa > 90)
        pa -= 90;
    if (pa > 45)
        pa -= 45;
    if (pa < -45)
        pa += 45;
    return pa;
}

static double size_acc(double s, int size_s, double t, int size_t_)
{
    double v = s * size_convert(size_s, size_t_);
    return fabs(v - t) / t; /* NaN for 0/0, inf for x/0 */
}

static struct comps score_match(const struct row *s, const struct row *t, double beam)
{
    struct comps c;
    double sz = (t->b_maj + t->b_min) / 2.0, den = sqrt(4 * beam * beam + sz * sz);
    double a_core = sep_arcsec(s->ra_core, s->dec_core, t->ra_core, t->dec_core) / den;
    double a_cent = sep_arcsec(s->ra_cent, s->dec_cent, t->ra_cent, t->dec_cent) / den;
    c.pos = capped(0.3, fmin(a_core, a_cent));
    c.flux = capped(0.1, fabs(s->flux - t->flux) / t->flux);
    c.bmaj = capped(0.3, size_acc(s->b_maj, s->size, t->b_maj, t->size));
    c.bmin = t->size == 1 ? 1.0 : capped(0.3, size_acc(s->b_min, s->size, t->b_min, t->size));
    c.pa = t->size == 1 ? 1.0 : capped(10.0, fabs(fold_pa(s->pa) - fold_pa(t->pa)));
    c.cf = capped(0.05, fabs(s->core_frac - t->core_frac) / 0.75);
    c.cls = s->cls == t->cls ? 1.0 : 0.0;
    return c;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : (x > y);
}

static double median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void json_num(const char *key, double v, int last)
{
    if (isfinite(v))
        printf("\"%s\": %.10g%s", key, v, last ? "" : ", ");
    else
        printf("\"%s\": null%s", key, last ? "" : ", ");
}

int otf_cli_score(int argc, char **argv)
{
    struct opts o = {0, 560.0, 0, 0, 1.0, 3.7e-7, 0, "auto", NULL};
    static const struct option lopts[] = {
        {"format", required_argument, 0, 'f'},  {"mode", required_argument, 0, 'm'},
        {"freq", required_argument, 0, 'F'},    {"area", required_argument, 0, 'a'},
        {"pb", required_argument, 0, 'p'},      {"sigma", required_argument, 0, 's'},
        {"matches", required_argument, 0, 'M'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    struct cat sub = {0}, tru = {0};
    struct grid g = {0};
    struct match *best = NULL;
    size_t *owner = NULL;
    int c, ret = OTF_CLI_EXIT_FAIL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'f':
            if (strcmp(optarg, "auto") && strcmp(optarg, "votable") && strcmp(optarg, "sdc1")) {
                fprintf(stderr, "otf score: --format auto|votable|sdc1\n");
                return OTF_CLI_EXIT_USAGE;
            }
            o.format = optarg;
            break;
        case 'm':
            if (strcmp(optarg, "core") && strcmp(optarg, "centroid")) {
                fprintf(stderr, "otf score: --mode core|centroid\n");
                return OTF_CLI_EXIT_USAGE;
            }
            o.mode_centroid = strcmp(optarg, "centroid") == 0;
            break;
        case 'F':
            o.freq_mhz = strtod(optarg, &end);
            if (*end || (o.freq_mhz != 560 && o.freq_mhz != 1400 && o.freq_mhz != 9200)) {
                fprintf(stderr, "otf score: --freq must be 560, 1400 or 9200\n");
                return OTF_CLI_EXIT_USAGE;
            }
            break;
        case 'a':
            if (strcmp(optarg, "all") == 0)
                o.area = 0;
            else if (strcmp(optarg, "train") == 0)
                o.area = 1;
            else if (strcmp(optarg, "challenge") == 0)
                o.area = 2;
            else {
                fprintf(stderr, "otf score: --area all|train|challenge\n");
                return OTF_CLI_EXIT_USAGE;
            }
            break;
        case 'p':
            if (strcmp(optarg, "none") == 0)
                o.pb_model = 0;
            else if (strcmp(optarg, "sdc1") == 0)
                o.pb_model = 1;
            else {
                o.pb_model = 2;
                o.pb_value = strtod(optarg, &end);
                if (*end || !(o.pb_value > 0 && o.pb_value <= 1)) {
                    fprintf(stderr, "otf score: --pb none|sdc1|VALUE in (0, 1]\n");
                    return OTF_CLI_EXIT_USAGE;
                }
            }
            break;
        case 's':
            o.sigma = strtod(optarg, &end);
            if (*end || !(o.sigma > 0)) {
                fprintf(stderr, "otf score: --sigma wants a positive number (Jy/beam)\n");
                return OTF_CLI_EXIT_USAGE;
            }
            break;
        case 'M':
            o.matches_path = optarg;
            break;
        case 'j':
            o.json = 1;
            break;
        case 'h':
            usage_score(stdout);
            return OTF_CLI_EXIT_OK;
        default:
            usage_score(stderr);
            return OTF_CLI_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        usage_score(stderr);
        return OTF_CLI_EXIT_USAGE;
    }
    const char *sub_path = argv[optind], *tru_path = argv[optind + 1];
    int is_xml = strcmp(o.format, "votable") == 0 ||
                 (strcmp(o.format, "auto") == 0 && looks_like_xml(sub_path));
    if ((is_xml ? read_votable(sub_path, &sub) : read_sdc1(sub_path, &sub)) != 0 ||
        read_sdc1(tru_path, &tru) != 0)
        goto out;

    /* primary-beam correction of the submitted fluxes; truth SNR uses the same model */
    for (size_t i = 0; i < sub.n; i++) {
        struct row *r = &sub.r[i];
        double pb = o.pb_model == 1   ? pb_sdc1(o.freq_mhz, r->ra_core, r->dec_core)
                    : o.pb_model == 2 ? o.pb_value
                                      : 1.0;
        r->flux /= pb;
    }
    prepare(&sub, &o);
    prepare(&tru, &o);
    for (size_t j = 0; j < tru.n; j++) {
        struct row *r = &tru.r[j];
        double pb = o.pb_model == 1   ? pb_sdc1(o.freq_mhz, r->ra_core, r->dec_core)
                    : o.pb_model == 2 ? o.pb_value
                                      : 1.0;
        r->snr = r->flux * pb / o.sigma;
    }

    /* cross-match: each submitted source against every truth source within its conv_size */
    const double beam = 0.25 * 1400.0 / o.freq_mhz;
    double rmax = 1e-6;
    for (size_t i = 0; i < sub.n; i++)
        rmax = fmax(rmax, sub.r[i].conv_size / 3600.0);
    grid_build(&g, &tru, o.mode_centroid, rmax);
    best = otf_xmalloc((sub.n ? sub.n : 1) * sizeof(*best));
    for (size_t i = 0; i < sub.n; i++) {
        const struct row *s = &sub.r[i];
        double ra, dec, rad = s->conv_size / 3600.0;
        pos_of(s, o.mode_centroid, &ra, &dec);
        int64_t cx = (int64_t)floor((ra + 360.0) / rmax), cy = (int64_t)floor((dec + 90.0) / rmax);
        best[i].sub = i;
        best[i].truth = SIZE_MAX;
        best[i].md = INFINITY;
        for (int64_t yy = cy - 1; yy <= cy + 1; yy++)
            for (size_t q = lower_bound(g.key, g.n, cell_key(cx - 1, yy));
                 q < g.n && g.key[q] <= cell_key(cx + 1, yy); q++) {
                const struct row *t = &tru.r[g.idx[q]];
                double tra, tdec;
                pos_of(t, o.mode_centroid, &tra, &tdec);
                if ((tra - ra) * (tra - ra) + (tdec - dec) * (tdec - dec) > rad * rad)
                    continue;
                double sep = sep_arcsec(ra, dec, tra, tdec);
                double pos_err = sep / t->conv_size;
                double flux_err = fabs(s->flux - t->flux) / t->flux;
                double size_err = fabs((t->b_maj + t->b_min) / 2 * size_to_gauss(t->size) -
                                       (s->b_maj + s->b_min) / 2 * size_to_gauss(s->size)) /
                                  t->conv_size;
                double md = sqrt(pow(pos_err / 0.93, 2) + pow(flux_err / 0.36, 2) +
                                 pow(size_err / 4.38, 2));
                /* lowest multi_d_err per submitted source; ties: lower truth row */
                if (md < best[i].md || (md == best[i].md && g.idx[q] < best[i].truth)) {
                    best[i].md = md;
                    best[i].truth = g.idx[q];
                }
            }
    }
    /* one-to-one: each truth source keeps its lowest multi_d_err candidate */
    owner = otf_xmalloc((tru.n ? tru.n : 1) * sizeof(size_t));
    for (size_t j = 0; j < tru.n; j++)
        owner[j] = SIZE_MAX;
    for (size_t i = 0; i < sub.n; i++) {
        size_t j = best[i].truth;
        if (j == SIZE_MAX || isnan(best[i].md))
            continue;
        if (owner[j] == SIZE_MAX || best[i].md < best[owner[j]].md)
            owner[j] = i;
    }

    FILE *fm = o.matches_path ? fopen(o.matches_path, "w") : NULL;
    if (o.matches_path && !fm) {
        fprintf(stderr, "otf score: cannot write %s\n", o.matches_path);
        goto out;
    }
    if (fm)
        fprintf(fm, "# sub_row truth_id multi_d_err sep_arcsec pos flux bmaj bmin pa core_frac "
                    "class score\n");
    size_t n_match = 0, n_bad = 0;
    struct comps sum = {0};
    double score_det = 0;
    double *ferr = otf_xmalloc((sub.n ? sub.n : 1) * sizeof(double));
    double *serr = otf_xmalloc((sub.n ? sub.n : 1) * sizeof(double));
    double *perr = otf_xmalloc((sub.n ? sub.n : 1) * sizeof(double));
    double *fbias = otf_xmalloc((sub.n ? sub.n : 1) * sizeof(double));
    size_t n_serr = 0;
    unsigned char *matched = otf_xcalloc(tru.n ? tru.n : 1, 1);
    for (size_t j = 0; j < tru.n; j++) {
        size_t i = owner[j];
        if (i == SIZE_MAX)
            continue;
        if (!(best[i].md < MULTID_MAX)) {
            n_bad++;
            continue;
        }
        const struct row *s = &sub.r[i], *t = &tru.r[j];
        struct comps cp = score_match(s, t, beam);
        double per = (cp.pos + cp.flux + cp.bmaj + cp.bmin + cp.pa + cp.cf + cp.cls) / 7.0;
        sum.pos += cp.pos;
        sum.flux += cp.flux;
        sum.bmaj += cp.bmaj;
        sum.bmin += cp.bmin;
        sum.pa += cp.pa;
        sum.cf += cp.cf;
        sum.cls += cp.cls;
        score_det += per;
        matched[j] = 1;
        double sp, sd, tp, td;
        pos_of(s, o.mode_centroid, &sp, &sd);
        pos_of(t, o.mode_centroid, &tp, &td);
        perr[n_match] = sep_arcsec(sp, sd, tp, td);
        ferr[n_match] = fabs(s->flux - t->flux) / t->flux;
        fbias[n_match] = s->flux / t->flux - 1.0;
        if (t->b_maj > 0)
            serr[n_serr++] = size_acc(s->b_maj, s->size, t->b_maj, t->size);
        n_match++;
        if (fm)
            fprintf(fm, "%zu %.0f %.5f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.0f %.5f\n", i + 1,
                    t->id, best[i].md, perr[n_match - 1], cp.pos, cp.flux, cp.bmaj, cp.bmin, cp.pa,
                    cp.cf, cp.cls, per);
    }
    if (fm)
        fclose(fm);
    const size_t n_det = sub.n, n_false = n_det - n_match;
    const double score = score_det - (double)n_false;

    /* completeness versus truth SNR */
    static const double edges[N_SNR_BINS + 1] = {0, 1, 2, 3, 5, 10, 20, 50, INFINITY};
    size_t n_bin[N_SNR_BINS] = {0}, m_bin[N_SNR_BINS] = {0}, n5 = 0, m5 = 0;
    for (size_t j = 0; j < tru.n; j++) {
        double snr = tru.r[j].snr;
        for (int b = 0; b < N_SNR_BINS; b++)
            if (snr >= edges[b] && snr < edges[b + 1]) {
                n_bin[b]++;
                m_bin[b] += matched[j];
            }
        if (snr >= 5) {
            n5++;
            m5 += matched[j];
        }
    }
    double compl5 = n5 ? (double)m5 / (double)n5 : NAN;
    double purity = n_det ? (double)n_match / (double)n_det : NAN;
    double nm = n_match ? (double)n_match : NAN;
    double med_f = median(ferr, n_match), med_fb = median(fbias, n_match);
    double med_s = median(serr, n_serr), med_p = median(perr, n_match);

    if (o.json) {
        printf("{");
        json_num("score", score, 0);
        printf("\"n_det\": %zu, \"n_match\": %zu, \"n_bad\": %zu, \"n_false\": %zu, ", n_det,
               n_match, n_bad, n_false);
        printf("\"n_truth\": %zu, ", tru.n);
        json_num("score_det", score_det, 0);
        json_num("acc_pc", 100.0 * score_det / nm, 0);
        printf("\"components\": {");
        json_num("position", sum.pos / nm, 0);
        json_num("flux", sum.flux / nm, 0);
        json_num("b_maj", sum.bmaj / nm, 0);
        json_num("b_min", sum.bmin / nm, 0);
        json_num("pa", sum.pa / nm, 0);
        json_num("core_frac", sum.cf / nm, 0);
        json_num("class", sum.cls / nm, 1);
        printf("}, ");
        json_num("purity", purity, 0);
        json_num("completeness_snr5", compl5, 0);
        printf("\"n_truth_snr5\": %zu, ", n5);
        json_num("median_flux_err", med_f, 0);
        json_num("median_flux_bias", med_fb, 0);
        json_num("median_bmaj_err", med_s, 0);
        json_num("median_pos_err_arcsec", med_p, 0);
        printf("\"completeness_vs_snr\": [");
        for (int b = 0; b < N_SNR_BINS; b++) {
            printf("{\"snr_lo\": %g, ", edges[b]);
            if (isfinite(edges[b + 1]))
                printf("\"snr_hi\": %g, ", edges[b + 1]);
            else
                printf("\"snr_hi\": null, ");
            printf("\"n_truth\": %zu, \"n_matched\": %zu}%s", n_bin[b], m_bin[b],
                   b + 1 < N_SNR_BINS ? ", " : "");
        }
        printf("], \"mode\": \"%s\", \"freq_mhz\": %g, \"sigma\": %g}\n",
               o.mode_centroid ? "centroid" : "core", o.freq_mhz, o.sigma);
    } else {
        printf("SDC1 score %.3f  (%zu detections, %zu matched, %zu rejected by multi_d_err, "
               "%zu false; sum of matches %.3f, %.1f %% per match)\n",
               score, n_det, n_match, n_bad, n_false, score_det, 100.0 * score_det / nm);
        printf("components (mean over matches): position %.3f flux %.3f b_maj %.3f b_min %.3f "
               "pa %.3f core_frac %.3f class %.3f\n",
               sum.pos / nm, sum.flux / nm, sum.bmaj / nm, sum.bmin / nm, sum.pa / nm, sum.cf / nm,
               sum.cls / nm);
        printf("purity %.3f; completeness at SNR >= 5: %.3f (%zu of %zu truth sources); median "
               "|dS|/S %.3f (bias %+.3f), |dbmaj|/bmaj %.3f, position error %.3f\"\n",
               purity, compl5, m5, n5, med_f, med_fb, med_s, med_p);
        printf("completeness vs SNR (flux x PB / %.3g):", o.sigma);
        for (int b = 0; b < N_SNR_BINS; b++)
            if (n_bin[b])
                printf(" [%g,%g) %zu/%zu", edges[b], edges[b + 1], m_bin[b], n_bin[b]);
        printf("\n");
    }
    free(ferr);
    free(serr);
    free(perr);
    free(fbias);
    free(matched);
    ret = OTF_CLI_EXIT_OK;
out:
    free(sub.r);
    free(tru.r);
    free(g.idx);
    free(g.key);
    free(best);
    free(owner);
    return ret;
}
