/* Celestial WCS through wcslib: the 2-axis sub-WCS of the image's pixel axes 1 and 2, built
 * from the header with every informal convention wcslib knows (WCS Papers I-II, AIPS NCP,
 * CROTA, EPOCH, PC00i00j), and batched pixel <-> sky conversion. A struct otf_fits_wcs is
 * touched by one thread only (wcsprm is not thread-safe); header parsing is serialised. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wcslib/wcs.h>
#include <wcslib/wcserr.h>
#include <wcslib/wcsfix.h>
#include <wcslib/wcshdr.h>
#include <wcslib/wcsmath.h>

#include "fits/fits_int.h"

struct otf_fits_wcs {
    struct wcsprm prm; /* 2 axes, wcsset done; never moved (wcslib keeps inner pointers) */
    char frame[16];    /* see otf_fits_info.frame */
    double equinox;    /* years; NaN when not applicable */
    double scale_deg;  /* sqrt(|det CD|), deg/pixel */
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_parse_lock = PTHREAD_MUTEX_INITIALIZER;

static void init_once(void)
{
    /* wcslib 7.12's detailed messages leak: wcserr_set() drops the previous record when an
     * error is set twice (celfix -> wcsset, a point off the projection in wcsp2s), and found
     * by fuzzing. The status texts (wcs_errmsg) are enough; with messaging off wcslib
     * allocates nothing for errors. */
    wcserr_enable(0);
}

static const char *prm_msg(const struct wcsprm *p, int st)
{
    if (p->err && p->err->msg[0])
        return p->err->msg;
    if (st > 0 && st <= WCSERR_UNSET)
        return wcs_errmsg[st];
    return "unknown wcslib error";
}

/* Should error records exist (messaging enabled elsewhere), drop them after a failing call:
 * wcsfree() does not release those of the celprm/prjprm. */
static void clear_errs(struct wcsprm *p)
{
    wcserr_clear(&p->err);
    wcserr_clear(&p->lin.err);
    wcserr_clear(&p->cel.err);
    wcserr_clear(&p->cel.prj.err);
    wcserr_clear(&p->spc.err);
}

static int is_undef(double v)
{
    return undefined(v) || !isfinite(v);
}

/* FITS WCS Paper II §3.1: RADESYS defaults to ICRS without EQUINOX, FK4 before 1984, FK5
 * after; EQUINOX defaults to 1950 for FK4 and 2000 for FK5. */
static void set_frame(struct otf_fits_wcs *w)
{
    const struct wcsprm *p = &w->prm;
    double eq = is_undef(p->equinox) ? NAN : p->equinox;

    w->equinox = NAN;
    if (strcmp(p->lngtyp, "RA") == 0) {
        char sys[72];
        snprintf(sys, sizeof sys, "%s", p->radesys);
        for (char *c = sys; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
        if (!sys[0])
            snprintf(sys, sizeof sys, "%s", isnan(eq) ? "ICRS" : (eq < 1984.0 ? "FK4" : "FK5"));
        if (strncmp(sys, "FK4", 3) == 0)
            w->equinox = isnan(eq) ? 1950.0 : eq;
        else if (strcmp(sys, "FK5") == 0)
            w->equinox = isnan(eq) ? 2000.0 : eq;
        snprintf(w->frame, sizeof w->frame, "%.15s", sys);
    } else if (strcmp(p->lngtyp, "GLON") == 0) {
        snprintf(w->frame, sizeof w->frame, "GALACTIC");
    } else if (strcmp(p->lngtyp, "ELON") == 0) {
        snprintf(w->frame, sizeof w->frame, "ECLIPTIC");
        w->equinox = isnan(eq) ? 2000.0 : eq;
    } else if (strcmp(p->lngtyp, "SLON") == 0) {
        snprintf(w->frame, sizeof w->frame, "SUPERGALACTIC");
    } else {
        snprintf(w->frame, sizeof w->frame, "%.15s", p->lngtyp);
    }
}

/* After wcsset() a CD matrix has been moved into PC with unit CDELT, so PC*CDELT is the
 * pixel-to-intermediate matrix in every case. */
static double pixel_scale(const struct wcsprm *p)
{
    const double *m = p->pc;
    return sqrt(fabs((m[0] * m[3] - m[1] * m[2]) * p->cdelt[0] * p->cdelt[1]));
}

/* Fixes, sets and checks the 2-axis WCS in `w`; on failure `w->prm` is still freeable. */
static enum otf_status finish(struct otf_fits_wcs *w, struct otf_errbuf *eb)
{
    int st;

    /* cdfix: CD/PC gaps get a unit diagonal; unitfix: non-standard unit strings. Both leave
     * wcsset() alone. celfix and cylfix are not called: they run wcsset() themselves and a
     * second wcsset() then leaks linset()'s arrays in wcslib 7.12 (found by fuzzing). wcsset()
     * translates NCP to SIN with PV2_1 = 0, PV2_2 = cot(CRVAL2) (and GLS to SFL) on the fly. */
    cdfix(&w->prm);
    unitfix(0, &w->prm);
    wcserr_clear(&w->prm.err);
    st = wcsset(&w->prm);
    if (st == WCSERR_MEMORY)
        return OTF_FAIL(eb, OTF_E_NOMEM, "wcslib: out of memory");
    if (st)
        return OTF_FAIL(eb, OTF_E_FORMAT, "image has no usable celestial WCS: %s",
                        prm_msg(&w->prm, st));
    if (w->prm.lng < 0 || w->prm.lat < 0)
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "image has no celestial WCS (CTYPE1 = '%s', CTYPE2 = '%s' are not a "
                        "longitude/latitude pair)",
                        w->prm.ctype[0], w->prm.ctype[1]);
    w->scale_deg = pixel_scale(&w->prm);
    if (!(w->scale_deg > 0) || !isfinite(w->scale_deg))
        return OTF_FAIL(eb, OTF_E_FORMAT, "image has no usable celestial WCS: zero pixel scale");
    set_frame(w);
    return OTF_OK;
}

/* 1 when `name` is all digits (and not empty). */
static int all_digits(const char *name)
{
    return *name && strspn(name, "0123456789") == strlen(name);
}

/* The keys of a primary celestial WCS (WCS Papers I-II and the informal forms wcslib admits):
 * CTYPEi CRPIXi CRVALi CDELTi CUNITi CROTAi, CDi_j PCi_j PVi_m PSi_m, PC00i00j CD00i00j,
 * PROJPn, WCSAXES, LONPOLE, LATPOLE, RADESYS, RADECSYS, EQUINOX, EPOCH, NAXIS, NAXISn. */
static int is_wcs_key(const char *name)
{
    static const char *const single[] = {"CTYPE", "CRPIX", "CRVAL", "CDELT",
                                         "CUNIT", "CROTA", "PROJP", "NAXIS"};
    static const char *const exact[] = {"WCSAXES",  "LONPOLE", "LATPOLE", "RADESYS",
                                        "RADECSYS", "EQUINOX", "EPOCH",   "NAXIS"};
    static const char *const pair[] = {"CD", "PC", "PV", "PS"};

    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(name, exact[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        if (strncmp(name, single[i], 5) == 0 && all_digits(name + 5))
            return 1;
    for (size_t i = 0; i < sizeof pair / sizeof pair[0]; i++) {
        const char *us;
        char idx[8];
        if (strncmp(name, pair[i], 2) != 0)
            continue;
        if (all_digits(name + 2) && strlen(name + 2) == 6 && (name[0] == 'C' || name[1] == 'C'))
            return 1; /* PC001001, CD001001 */
        us = strchr(name + 2, '_');
        if (!us || us == name + 2 || (size_t)(us - name - 2) >= sizeof idx)
            continue;
        memcpy(idx, name + 2, (size_t)(us - name - 2));
        idx[us - name - 2] = '\0';
        if (all_digits(idx) && all_digits(us + 1))
            return 1;
    }
    return 0;
}

/* wcspih is given only the cards it needs, each checked, because wcslib 7.12 crashes on
 * others (all found by fuzzing): the DSS plate keys (CNPIX1, PLTRAH, AMDX1, ...) and SIP
 * coefficients (A_0_2) without a matching CTYPE end in a double free, and a string value with
 * no closing quote runs on into the next card and overflows ctype[72]. Every other card, a
 * card with a control byte, and an unterminated string are blanked. Distortions (SIP, TPV,
 * DSS, WAT) are therefore not applied. Returns the number of cards kept. */
static int sanitize_cards(char *cards, int nkeys)
{
    int n_kept = 0;

    for (int k = 0; k < nkeys; k++) {
        char *c = cards + (size_t)k * 80, name[9];
        int i = 10, keep = 1;
        size_t len;
        for (int j = 0; j < 80; j++)
            if ((unsigned char)c[j] < 0x20 || (unsigned char)c[j] > 0x7e)
                keep = 0;
        memcpy(name, c, 8);
        len = 8;
        while (len > 0 && name[len - 1] == ' ')
            len--;
        name[len] = '\0';
        if (!keep || c[8] != '=' || c[9] != ' ' || strchr(name, ' ') || !is_wcs_key(name))
            keep = 0;
        while (keep && i < 80 && c[i] == ' ')
            i++;
        if (keep && i < 80 && c[i] == '\'') {
            keep = 0;
            for (i++; i < 80; i++) {
                if (c[i] != '\'')
                    continue;
                if (i + 1 < 80 && c[i + 1] == '\'') {
                    i++; /* '' is a quote inside the string */
                    continue;
                }
                keep = 1;
                break;
            }
        }
        if (keep)
            n_kept++;
        else
            memset(c, ' ', 80);
    }
    return n_kept;
}

/* `cards` (nkeys x 80 bytes) is modified: sanitised, then used as wcspih's scanner buffer. */
static enum otf_status build(char *cards, int nkeys, struct otf_fits_wcs **out,
                             struct otf_errbuf *eb)
{
    struct wcsprm *all = NULL;
    struct otf_fits_wcs *w = NULL;
    int nreject = 0, nwcs = 0, st, primary = -1;
    int nsub = 2, axes[2] = {1, 2};
    enum otf_status rc = OTF_OK;

    pthread_once(&g_once, init_once);
    sanitize_cards(cards, nkeys);
    pthread_mutex_lock(&g_parse_lock);
    st = wcspih(cards, nkeys, WCSHDR_all, 0, &nreject, &nwcs, &all);
    if (st) {
        rc = OTF_FAIL(eb, st == 2 ? OTF_E_NOMEM : OTF_E_FORMAT, "cannot parse the WCS keys: %s",
                      (st > 0 && st <= 6) ? wcshdr_errmsg[st] : "wcslib error");
        all = NULL;
        nwcs = 0;
        goto out;
    }
    for (int i = 0; i < nwcs; i++)
        if (all[i].alt[0] == ' ' || all[i].alt[0] == '\0')
            primary = i;
    if (primary < 0 || all[primary].naxis < 2) {
        rc = OTF_FAIL(eb, OTF_E_FORMAT, "image has no celestial WCS");
        goto out;
    }
    w = otf_xcalloc(1, sizeof *w);
    w->prm.flag = -1;
    st = wcssub(1, &all[primary], &nsub, axes, &w->prm);
    if (st) {
        rc = OTF_FAIL(eb, st == WCSERR_MEMORY ? OTF_E_NOMEM : OTF_E_FORMAT,
                      "image has no usable celestial WCS: %s", prm_msg(&w->prm, st));
        goto out;
    }
    rc = finish(w, eb);
    if (rc != OTF_OK)
        goto out;
    *out = w;
    w = NULL;
out:
    if (all)
        wcsvfree(&nwcs, &all);
    pthread_mutex_unlock(&g_parse_lock);
    otf_fits_free_wcs(w);
    return rc;
}

enum otf_status otf_fits_read_wcs(struct otf_fits_image *img, struct otf_fits_wcs **out,
                                  struct otf_errbuf *eb)
{
    char *cards = NULL;
    int nkeys = 0;
    enum otf_status rc;

    OTF_ASSERT(img && out);
    otf_fits_lock_cfitsio();
    rc = otf_fits_read_cards(img, &cards, &nkeys, eb);
    otf_fits_unlock_cfitsio();
    if (rc == OTF_OK)
        rc = build(cards, nkeys, out, eb);
    if (rc == OTF_OK) {
        img->info.has_celestial_wcs = 1;
        snprintf(img->info.frame, sizeof img->info.frame, "%s", (*out)->frame);
    }
    otf_fits_lock_cfitsio();
    otf_fits_free_cards(cards);
    otf_fits_unlock_cfitsio();
    return rc;
}

enum otf_status otf_fits_parse_wcs(const char *cards, int nkeys, struct otf_fits_wcs **out,
                                   struct otf_errbuf *eb)
{
    size_t len;
    char *copy;
    enum otf_status rc;

    OTF_ASSERT(cards && out && nkeys >= 0);
    if (otf_mul_size((size_t)nkeys, 80, &len) != 0 || strnlen(cards, len) < len)
        return OTF_FAIL(eb, OTF_E_INVAL, "header shorter than %d cards", nkeys);
    copy = otf_xstrndup(cards, len);
    rc = build(copy, nkeys, out, eb);
    free(copy);
    return rc;
}

enum otf_status otf_fits_dup_wcs(const struct otf_fits_wcs *src, struct otf_fits_wcs **out,
                                 struct otf_errbuf *eb)
{
    struct otf_fits_wcs *w;
    int st;

    OTF_ASSERT(src && out);
    pthread_once(&g_once, init_once);
    w = otf_xcalloc(1, sizeof *w);
    w->prm.flag = -1;
    st = wcssub(1, &src->prm, NULL, NULL, &w->prm);
    if (st == 0)
        st = wcsset(&w->prm);
    if (st) {
        enum otf_status rc = OTF_FAIL(eb, st == WCSERR_MEMORY ? OTF_E_NOMEM : OTF_E_INTERNAL,
                                      "copying a WCS: %s", prm_msg(&w->prm, st));
        otf_fits_free_wcs(w);
        return rc;
    }
    memcpy(w->frame, src->frame, sizeof w->frame);
    w->equinox = src->equinox;
    w->scale_deg = src->scale_deg;
    *out = w;
    return OTF_OK;
}

void otf_fits_free_wcs(struct otf_fits_wcs *wcs)
{
    if (!wcs)
        return;
    clear_errs(&wcs->prm);
    wcsfree(&wcs->prm);
    free(wcs);
}

const char *otf_fits_wcs_frame(const struct otf_fits_wcs *wcs)
{
    return wcs->frame;
}

double otf_fits_wcs_equinox(const struct otf_fits_wcs *wcs)
{
    return wcs->equinox;
}

double otf_fits_wcs_pixel_scale(const struct otf_fits_wcs *wcs)
{
    return wcs->scale_deg;
}

/* ---- conversions ---- */

#define CHUNK 128 /* points per wcslib call: scratch stays on the stack */

static double wrap_360(double a)
{
    a = fmod(a, 360.0);
    if (a < 0)
        a += 360.0;
    if (a >= 360.0)
        a -= 360.0;
    return a;
}

enum otf_status otf_fits_pix_to_sky(struct otf_fits_wcs *wcs, size_t n, const double *xy,
                                    double *radec, struct otf_errbuf *eb)
{
    double pix[2 * CHUNK], img[2 * CHUNK], world[2 * CHUNK], phi[CHUNK], theta[CHUNK];
    int stat[CHUNK], bad[CHUNK];
    struct wcsprm *p;

    OTF_ASSERT(wcs && (n == 0 || (xy && radec)));
    p = &wcs->prm;
    for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
        int m = (int)(n - i0 < CHUNK ? n - i0 : CHUNK);
        int st;
        for (int k = 0; k < m; k++) {
            double x = xy[2 * (i0 + k)], y = xy[2 * (i0 + k) + 1];
            /* Far beyond any image: keeps wcslib's arithmetic finite. */
            bad[k] = !isfinite(x) || !isfinite(y) || fabs(x) > 1e12 || fabs(y) > 1e12;
            pix[2 * k] = bad[k] ? p->crpix[0] : x + 1.0; /* FITS pixels are 1-based */
            pix[2 * k + 1] = bad[k] ? p->crpix[1] : y + 1.0;
        }
        st = wcsp2s(p, m, 2, pix, img, phi, theta, world, stat);
        if (st && st != WCSERR_BAD_PIX) {
            OTF_FAIL(eb, OTF_E_FORMAT, "pixel to sky: %s", prm_msg(p, st));
            clear_errs(p);
            return OTF_E_FORMAT;
        }
        if (st)
            clear_errs(p);
        for (int k = 0; k < m; k++) {
            double lng = world[2 * k + p->lng], lat = world[2 * k + p->lat];
            double *o = radec + 2 * (i0 + k);
            if (bad[k] || (st && stat[k]) || !isfinite(lng) || !isfinite(lat)) {
                o[0] = o[1] = NAN;
            } else {
                o[0] = wrap_360(lng);
                o[1] = lat;
            }
        }
    }
    return OTF_OK;
}

enum otf_status otf_fits_sky_to_pix(struct otf_fits_wcs *wcs, size_t n, const double *radec,
                                    double *xy, struct otf_errbuf *eb)
{
    double pix[2 * CHUNK], img[2 * CHUNK], world[2 * CHUNK], phi[CHUNK], theta[CHUNK];
    int stat[CHUNK], bad[CHUNK];
    struct wcsprm *p;

    OTF_ASSERT(wcs && (n == 0 || (xy && radec)));
    p = &wcs->prm;
    for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
        int m = (int)(n - i0 < CHUNK ? n - i0 : CHUNK);
        int st;
        for (int k = 0; k < m; k++) {
            double ra = radec[2 * (i0 + k)], dec = radec[2 * (i0 + k) + 1];
            bad[k] = !isfinite(ra) || !isfinite(dec) || dec < -90.0 || dec > 90.0;
            world[2 * k + p->lng] = bad[k] ? p->crval[p->lng] : wrap_360(ra);
            world[2 * k + p->lat] = bad[k] ? p->crval[p->lat] : dec;
        }
        st = wcss2p(p, m, 2, world, phi, theta, img, pix, stat);
        if (st && st != WCSERR_BAD_WORLD) {
            OTF_FAIL(eb, OTF_E_FORMAT, "sky to pixel: %s", prm_msg(p, st));
            clear_errs(p);
            return OTF_E_FORMAT;
        }
        if (st)
            clear_errs(p);
        for (int k = 0; k < m; k++) {
            double *o = xy + 2 * (i0 + k);
            if (bad[k] || (st && stat[k]) || !isfinite(pix[2 * k]) || !isfinite(pix[2 * k + 1])) {
                o[0] = o[1] = NAN;
            } else {
                o[0] = pix[2 * k] - 1.0;
                o[1] = pix[2 * k + 1] - 1.0;
            }
        }
    }
    return OTF_OK;
}
