/* FITS image HDUs through cfitsio: opening (file or memory), the choice and the checks of the
 * image HDU, tile reads into float32 and the header facts. Every cfitsio status is translated
 * into an errbuf here and cfitsio's message stack is cleared before returning. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fits/fits_int.h"

/* ---- the cfitsio lock ---- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_need_lock;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void init_once(void)
{
    fitsfile *f = NULL;
    int st = 0;
    /* A cfitsio built without USE_PTHREADS shares its buffers between all files. */
    g_need_lock = !fits_is_reentrant();
    /* A reentrant cfitsio creates its own mutex on the first open, unguarded: two threads
     * opening their first files at once (two HTTP uploads probed together) race on it (seen by
     * ThreadSanitizer). One open here, under pthread_once, creates it before any other. */
    fits_open_diskfile(&f, "/nonexistent/otf-cfitsio-init.fits", READONLY, &st);
    if (f) {
        st = 0;
        fits_close_file(f, &st);
    }
    fits_clear_errmsg();
}

void otf_fits_lock_cfitsio(void)
{
    pthread_once(&g_once, init_once);
    if (g_need_lock)
        pthread_mutex_lock(&g_lock);
}

void otf_fits_unlock_cfitsio(void)
{
    if (g_need_lock)
        pthread_mutex_unlock(&g_lock);
}

/* ---- errors ---- */

static enum otf_status map_status(int status)
{
    switch (status) {
    case MEMORY_ALLOCATION:
        return OTF_E_NOMEM;
    case FILE_NOT_OPENED:
    case FILE_NOT_CREATED:
    case WRITE_ERROR:
    case FILE_NOT_CLOSED:
    case SEEK_ERROR:
        return OTF_E_IO;
    default:
        return OTF_E_FORMAT;
    }
}

/* Appends one message of cfitsio's stack to `msg`, never with a folder name in it: the file's
 * full path is replaced by its name, and a message with another '/' (a path cut at 80 columns)
 * is dropped. */
static void append_stack_msg(char *msg, size_t cap, const char *m, const char *path,
                             const char *name)
{
    char tmp[256];
    const char *p = NULL;
    size_t len = strlen(msg);

    while (*m == ' ')
        m++;
    if (!*m)
        return;
    if (path && *path && (p = strstr(m, path)) != NULL) {
        snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)(p - m), m, name, p + strlen(path));
        m = tmp;
    }
    if (strchr(m, '/'))
        return;
    if (len + 3 >= cap)
        return;
    snprintf(msg + len, cap - len, "%s%s", len ? "; " : "", m);
    /* cfitsio quotes header bytes (a bad keyword name): keep the text printable ASCII, as it
     * ends up in XML and JSON documents. */
    for (char *c = msg + len; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?';
}

enum otf_status otf_fits_fail_cfitsio(struct otf_errbuf *eb, int status, const char *path,
                                      const char *func, int line, const char *fmt, ...)
{
    char what[256];
    char stack[OTF_ERRBUF_SIZE] = "";
    char text[FLEN_STATUS] = "";
    char m[FLEN_ERRMSG];
    const char *name = path ? strrchr(path, '/') : NULL;
    enum otf_status code = map_status(status);
    va_list ap;

    name = name ? name + 1 : (path ? path : "");
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fits_get_errstatus(status, text);
    while (fits_read_errmsg(m))
        append_stack_msg(stack, sizeof stack, m, path, name);
    fits_clear_errmsg();
    if (stack[0])
        return otf_errbuf_set(eb, code, func, line, "%s: %s (cfitsio status %d): %s", what, text,
                              status, stack);
    return otf_errbuf_set(eb, code, func, line, "%s: %s (cfitsio status %d)", what, text, status);
}

/* ---- first bytes ---- */

/* Rejects what is not an uncompressed FITS file before cfitsio sees it: cfitsio would inflate a
 * gzip file whole into memory. */
static enum otf_status check_magic(const unsigned char *p, size_t n, uint64_t total,
                                   struct otf_errbuf *eb)
{
    if (total == 0)
        return OTF_FAIL(eb, OTF_E_FORMAT, "not a FITS file: the file is empty");
    if (n >= 2 && p[0] == 0x1f && (p[1] == 0x8b || p[1] == 0x9d))
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "not a FITS file: it is gzip/compress-compressed; send it uncompressed");
    if (n >= 3 && memcmp(p, "BZh", 3) == 0)
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "not a FITS file: it is bzip2-compressed; send it uncompressed");
    if (n >= 4 && memcmp(p, "PK\3\4", 4) == 0)
        return OTF_FAIL(eb, OTF_E_FORMAT, "not a FITS file: it is a zip archive");
    if (n < 9 || memcmp(p, "SIMPLE  =", 9) != 0)
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "not a FITS file: it does not start with the card SIMPLE = T");
    if (total < 2880)
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "not a FITS file: %llu bytes, less than one 2880-byte FITS block",
                        (unsigned long long)total);
    return OTF_OK;
}

static enum otf_status check_file(const char *path, uint64_t *size, struct otf_errbuf *eb)
{
    unsigned char head[80];
    struct stat sb;
    ssize_t n;
    enum otf_status rc = OTF_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return OTF_FAIL(eb, errno == ENOENT ? OTF_E_NOTFOUND : OTF_E_IO, "cannot open image: %s",
                        strerror(errno));
    if (fstat(fd, &sb) != 0) {
        rc = OTF_FAIL(eb, OTF_E_IO, "cannot stat image: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = OTF_FAIL(eb, OTF_E_IO, "image is not a regular file");
        goto out;
    }
    do {
        n = read(fd, head, sizeof head);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        rc = OTF_FAIL(eb, OTF_E_IO, "cannot read image: %s", strerror(errno));
        goto out;
    }
    *size = (uint64_t)sb.st_size;
    rc = check_magic(head, (size_t)n, *size, eb);
out:
    close(fd);
    return rc;
}

/* ---- HDU choice ---- */

enum hdu_mode { HDU_DEFAULT, HDU_INDEX, HDU_NAME };

struct hdu_spec {
    enum hdu_mode mode;
    int index;     /* HDU_INDEX: 0-based */
    char name[72]; /* HDU_NAME: EXTNAME */
    int extver;    /* HDU_NAME: 0 = any */
};

static enum otf_status parse_spec(const char *s, struct hdu_spec *spec, struct otf_errbuf *eb)
{
    size_t len;
    const char *comma;

    memset(spec, 0, sizeof *spec);
    spec->mode = HDU_DEFAULT;
    if (!s)
        return OTF_OK;
    while (*s == ' ')
        s++;
    len = strlen(s);
    while (len > 0 && s[len - 1] == ' ')
        len--;
    if (len == 0)
        return OTF_OK;
    if (len >= sizeof spec->name)
        return OTF_FAIL(eb, OTF_E_INVAL, "invalid HDU: longer than %zu characters",
                        sizeof spec->name - 1);
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return OTF_FAIL(eb, OTF_E_INVAL, "invalid HDU: not printable ASCII");
    memcpy(spec->name, s, len);
    spec->name[len] = '\0';
    if (strspn(spec->name, "0123456789") == len) {
        if (len > 5 || atoi(spec->name) >= OTF_FITS_MAX_HDUS)
            return OTF_FAIL(eb, OTF_E_INVAL, "invalid HDU %s: at most %d HDUs are read", spec->name,
                            OTF_FITS_MAX_HDUS);
        spec->mode = HDU_INDEX;
        spec->index = atoi(spec->name);
        return OTF_OK;
    }
    if (spec->name[0] == '-' || spec->name[0] == '+')
        return OTF_FAIL(eb, OTF_E_INVAL, "invalid HDU '%s': a number must be >= 0", spec->name);
    spec->mode = HDU_NAME;
    comma = strchr(spec->name, ',');
    if (comma) {
        const char *v = comma + 1;
        while (*v == ' ')
            v++;
        if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 5)
            return OTF_FAIL(eb, OTF_E_INVAL, "invalid HDU '%s': expected NAME or NAME,EXTVER",
                            spec->name);
        spec->extver = atoi(v);
        spec->name[comma - spec->name] = '\0';
        len = strlen(spec->name);
        while (len > 0 && spec->name[len - 1] == ' ')
            spec->name[--len] = '\0';
        if (len == 0)
            return OTF_FAIL(eb, OTF_E_INVAL, "invalid HDU: empty name");
    }
    if (otf_str_ieq(spec->name, "PRIMARY") && spec->extver <= 1) {
        spec->mode = HDU_INDEX;
        spec->index = 0;
    }
    return OTF_OK;
}

static int64_t i64_min(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t i64_max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Decides whether the current HDU holds a usable 2-D image. A soft refusal (not an image, a
 * cube, ...) sets *usable = 0 with the reason in `why`; a broken HDU (absurd sizes, truncated
 * data, cfitsio failure) is an error. Fills img->info when usable. */
static enum otf_status inspect_hdu(struct otf_fits_image *img, int index, uint64_t file_bytes,
                                   int *usable, struct otf_errbuf *why, struct otf_errbuf *eb)
{
    long naxes[OTF_FITS_MAX_NAXIS] = {0};
    int st = 0, type = 0, bitpix = 0, naxis = 0;
    LONGLONG head = 0, dstart = 0, dend = 0, pcount = 0, gcount = 1;
    int64_t bytes, present;

    *usable = 0;
    if (fits_get_hdu_type(img->fptr, &type, &st))
        return OTF_FITS_FAIL_CFITSIO(eb, st, NULL, "HDU %d", index);
    if (type == BINARY_TBL) {
        OTF_FAIL(why, OTF_E_INVAL, "HDU %d is a binary table, not an image", index);
        return OTF_OK;
    }
    if (type == ASCII_TBL) {
        OTF_FAIL(why, OTF_E_INVAL, "HDU %d is an ASCII table, not an image", index);
        return OTF_OK;
    }
    /* cfitsio's tile decompressors crash on crafted tiles (a SEGV in fits_rdecomp found by
     * fuzzing, and a history of CVEs): uploads are untrusted, so these images are refused.
     * select_hdu() already stops before them; this is the second line. */
    if (fits_is_compressed_image(img->fptr, &st)) {
        OTF_FAIL(why, OTF_E_INVAL,
                 "HDU %d is a tile-compressed image, which is not accepted: decompress it first "
                 "(funpack)",
                 index);
        return OTF_OK;
    }
    if (fits_get_img_dim(img->fptr, &naxis, &st) || fits_get_img_type(img->fptr, &bitpix, &st))
        return OTF_FITS_FAIL_CFITSIO(eb, st, NULL, "HDU %d header", index);
    if (naxis == 0) {
        OTF_FAIL(why, OTF_E_INVAL, "HDU %d has no data (NAXIS = 0)", index);
        return OTF_OK;
    }
    if (naxis == 1) {
        OTF_FAIL(why, OTF_E_INVAL, "HDU %d is 1-D (NAXIS = 1), not an image", index);
        return OTF_OK;
    }
    if (naxis > OTF_FITS_MAX_NAXIS) {
        OTF_FAIL(why, OTF_E_INVAL, "HDU %d has NAXIS = %d: at most %d axes are read", index, naxis,
                 OTF_FITS_MAX_NAXIS);
        return OTF_OK;
    }
    if (fits_get_img_size(img->fptr, naxis, naxes, &st))
        return OTF_FITS_FAIL_CFITSIO(eb, st, NULL, "HDU %d header", index);
    for (int i = 0; i < naxis; i++) {
        if (naxes[i] < 0)
            return OTF_FAIL(eb, OTF_E_FORMAT, "HDU %d: NAXIS%d = %ld is negative", index, i + 1,
                            naxes[i]);
        if (naxes[i] > OTF_FITS_MAX_AXIS_PIX)
            return OTF_FAIL(eb, OTF_E_LIMIT, "HDU %d: NAXIS%d = %ld exceeds the limit of %lld",
                            index, i + 1, naxes[i], (long long)OTF_FITS_MAX_AXIS_PIX);
        if (naxes[i] == 0) {
            OTF_FAIL(why, OTF_E_INVAL, "HDU %d has no data (NAXIS%d = 0)", index, i + 1);
            return OTF_OK;
        }
    }
    for (int i = 2; i < naxis; i++) {
        if (naxes[i] != 1) {
            OTF_FAIL(why, OTF_E_INVAL,
                     "HDU %d is a %d-D cube (NAXIS%d = %ld): only 2-D images are read (axes "
                     "beyond the second must have length 1)",
                     index, naxis, i + 1, naxes[i]);
            return OTF_OK;
        }
    }
    if (naxes[0] < 2 || naxes[1] < 2) {
        OTF_FAIL(why, OTF_E_INVAL,
                 "HDU %d is %ld x %ld pixels: the first two axes need at least 2 pixels each",
                 index, naxes[0], naxes[1]);
        return OTF_OK;
    }
    if (bitpix != 8 && bitpix != 16 && bitpix != 32 && bitpix != 64 && bitpix != -32 &&
        bitpix != -64)
        return OTF_FAIL(eb, OTF_E_FORMAT, "HDU %d: invalid BITPIX = %d", index, bitpix);

    /* cfitsio honours PCOUNT/GCOUNT even in a primary header (size = GCOUNT * (PCOUNT +
     * NAXIS1 * NAXIS2 ...)) and then reads pixels past the image: an image has 0 and 1
     * (FITS 4.0 §7.1.1); anything else is refused (found by fuzzing). */
    fits_write_errmark();
    if (fits_read_key(img->fptr, TLONGLONG, "PCOUNT", &pcount, NULL, &st) == KEY_NO_EXIST)
        st = 0;
    if (fits_read_key(img->fptr, TLONGLONG, "GCOUNT", &gcount, NULL, &st) == KEY_NO_EXIST)
        st = 0;
    fits_clear_errmark();
    if (st || pcount != 0 || gcount != 1)
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "HDU %d: an image needs PCOUNT = 0 and GCOUNT = 1 (random groups or a "
                        "malformed header)",
                        index);

    /* The data must be in the file (FITS 4.0 §3.3.2): cfitsio would only fail at read time.
     * Each axis <= 2^20 and the extras are 1: at most 2^43 bytes, no overflow. */
    if (fits_get_hduaddrll(img->fptr, &head, &dstart, &dend, &st))
        return OTF_FITS_FAIL_CFITSIO(eb, st, NULL, "HDU %d", index);
    bytes = (int64_t)naxes[0] * naxes[1] * (bitpix < 0 ? -bitpix : bitpix) / 8;
    /* cfitsio's own idea of the data must be this one, or it may read elsewhere. */
    if (dend - dstart != (bytes + 2879) / 2880 * 2880)
        return OTF_FAIL(eb, OTF_E_FORMAT,
                        "HDU %d: inconsistent header (cfitsio sizes the data at %lld bytes, "
                        "BITPIX and NAXISn at %lld)",
                        index, (long long)(dend - dstart), (long long)bytes);
    present = (int64_t)file_bytes - (int64_t)dstart;
    if (present < bytes)
        return OTF_FAIL(eb, OTF_E_FORMAT, "truncated: %lld bytes of data expected, %lld present",
                        (long long)bytes, (long long)i64_max(present, 0));

    memset(&img->info, 0, sizeof img->info);
    img->info.hdu = index + 1;
    img->info.hdu_index = index;
    img->info.width = naxes[0];
    img->info.height = naxes[1];
    img->info.bitpix = bitpix;
    img->info.naxis = naxis;
    *usable = 1;
    return OTF_OK;
}

/* ---- walking the HDUs ---- */

/* Reads up to `n` bytes at `off` of the file or memory buffer; returns the count (0 at EOF). */
static size_t raw_read(const struct otf_fits_image *img, int fd, uint64_t off, uint64_t file_bytes,
                       char *buf, size_t n)
{
    ssize_t k;

    if (off >= file_bytes)
        return 0;
    if (n > file_bytes - off)
        n = (size_t)(file_bytes - off);
    if (fd < 0) {
        memcpy(buf, (const char *)img->mem_ptr + off, n);
        return n;
    }
    do {
        k = pread(fd, buf, n, (off_t)off);
    } while (k < 0 && errno == EINTR);
    return k > 0 ? (size_t)k : 0;
}

/* 1 when the header starting at byte `start` has a ZIMAGE keyword (a tile-compressed image).
 * cfitsio parses such a header's compression keywords as soon as it moves there, and crashes
 * on some (a division by zero in imcomp_get_compressed_image_par, found by fuzzing): the HDU
 * must be recognised from its raw cards, before cfitsio sees it. Names are matched as cfitsio
 * does (HIERARCH prefix, '=' anywhere, any case); the scan stops at "END     " or EOF. */
static int raw_header_is_compressed(const struct otf_fits_image *img, uint64_t start,
                                    uint64_t file_bytes)
{
    char block[2880];
    int fd = -1, found = 0;
    size_t got;

    if (!img->mem_ptr) {
        fd = open(img->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return 0; /* cfitsio will report the failure itself */
    }
    for (uint64_t off = start; !found && off < file_bytes; off += sizeof block) {
        got = raw_read(img, fd, off, file_bytes, block, sizeof block);
        if (got < 80)
            break;
        for (size_t c = 0; c + 80 <= got; c += 80) {
            char *card = block + c, name[80];
            const char *p = card, *eq;
            size_t len;
            if (memcmp(card, "END     ", 8) == 0)
                goto out;
            if (strncasecmp(p, "HIERARCH ", 9) == 0)
                for (p += 9; p < card + 80 && *p == ' ';)
                    p++;
            eq = memchr(p, '=', (size_t)(card + 80 - p));
            len = eq ? (size_t)(eq - p) : (size_t)(card + 8 - p > 0 ? card + 8 - p : 0);
            memcpy(name, p, len);
            while (len > 0 && name[len - 1] == ' ')
                len--;
            name[len] = '\0';
            if (otf_str_ieq(name, "ZIMAGE")) {
                found = 1;
                break;
            }
        }
    }
out:
    if (fd >= 0)
        close(fd);
    return found;
}

/* Moves cfitsio from HDU `index - 1` to HDU `index` (0-based), unless the file ends there
 * (*at_end = 1) or that HDU is tile-compressed (*compressed = 1; cfitsio is not moved). */
static enum otf_status move_next(struct otf_fits_image *img, int index, uint64_t file_bytes,
                                 int *at_end, int *compressed, struct otf_errbuf *eb)
{
    LONGLONG head = 0, dstart = 0, dend = 0;
    int st = 0;

    *at_end = *compressed = 0;
    if (fits_get_hduaddrll(img->fptr, &head, &dstart, &dend, &st))
        return OTF_FITS_FAIL_CFITSIO(eb, st, NULL, "HDU %d", index - 1);
    if (dend < 0 || (uint64_t)dend + 80 > file_bytes) {
        *at_end = 1;
        return OTF_OK;
    }
    if (raw_header_is_compressed(img, (uint64_t)dend, file_bytes)) {
        *compressed = 1;
        return OTF_OK;
    }
    if (fits_movabs_hdu(img->fptr, index + 1, NULL, &st)) {
        if (st == END_OF_FILE) {
            fits_clear_errmsg();
            *at_end = 1;
            return OTF_OK;
        }
        return OTF_FITS_FAIL_CFITSIO(eb, st, NULL, "HDU %d: malformed header", index);
    }
    return OTF_OK;
}

/* 1 when the current HDU is called `spec->name` (EXTNAME or HDUNAME, any case) with the
 * requested EXTVER (default 1; 0 in the spec = any). */
static int hdu_has_name(struct otf_fits_image *img, const struct hdu_spec *spec)
{
    char v[FLEN_VALUE];
    int st = 0, ok = 0;
    long ver = 1;

    fits_write_errmark();
    if (fits_read_key(img->fptr, TSTRING, "EXTNAME", v, NULL, &st) == 0 &&
        otf_str_ieq(v, spec->name))
        ok = 1;
    st = 0;
    if (!ok && fits_read_key(img->fptr, TSTRING, "HDUNAME", v, NULL, &st) == 0 &&
        otf_str_ieq(v, spec->name))
        ok = 1;
    st = 0;
    if (ok && spec->extver) {
        if (fits_read_key(img->fptr, TLONG, "EXTVER", &ver, NULL, &st) != 0)
            ver = 1;
        ok = ver == spec->extver;
    }
    fits_clear_errmark();
    return ok;
}

static enum otf_status select_hdu(struct otf_fits_image *img, const struct hdu_spec *spec,
                                  uint64_t file_bytes, struct otf_errbuf *eb)
{
    char seen[OTF_ERRBUF_SIZE] = "";
    struct otf_errbuf why = {0};
    size_t len = 0;
    int usable = 0, n_hdus = 0;
    enum otf_status rc;

    for (int i = 0; i < OTF_FITS_MAX_HDUS; i++) {
        int at_end = 0, compressed = 0, wanted;
        if (i > 0) {
            rc = move_next(img, i, file_bytes, &at_end, &compressed, eb);
            if (rc != OTF_OK)
                return rc;
            if (at_end)
                break;
        }
        n_hdus = i + 1;
        wanted = spec->mode == HDU_DEFAULT || (spec->mode == HDU_INDEX && spec->index == i);
        if (compressed) {
            /* cfitsio cannot be moved past this HDU safely: the walk ends here. */
            char msg[160];
            snprintf(msg, sizeof msg,
                     "HDU %d is a tile-compressed image, which is not accepted: decompress it "
                     "first (funpack)",
                     i);
            if (spec->mode == HDU_DEFAULT)
                return OTF_FAIL(eb, OTF_E_FORMAT,
                                "no image HDU with 2 non-degenerate axes (%s%s%s)", seen,
                                len ? "; " : "", msg);
            if (wanted)
                return OTF_FAIL(eb, OTF_E_INVAL, "%s", msg);
            if (spec->mode == HDU_INDEX)
                return OTF_FAIL(eb, OTF_E_INVAL, "HDU %d cannot be reached: %s", spec->index, msg);
            return OTF_FAIL(eb, OTF_E_INVAL, "no HDU named '%s' before %s", spec->name, msg);
        }
        if (spec->mode == HDU_INDEX && !wanted)
            continue;
        if (spec->mode == HDU_NAME && !(wanted = hdu_has_name(img, spec)))
            continue;
        rc = inspect_hdu(img, i, file_bytes, &usable, &why, eb);
        if (rc != OTF_OK || usable)
            return rc;
        if (spec->mode != HDU_DEFAULT)
            return otf_errbuf_set(eb, OTF_E_INVAL, why.func, why.line, "%s", why.msg);
        if (len + 8 < sizeof seen)
            len +=
                (size_t)snprintf(seen + len, sizeof seen - len, "%s%s", len ? "; " : "", why.msg);
    }
    if (spec->mode == HDU_INDEX)
        return OTF_FAIL(eb, OTF_E_INVAL, "HDU %d does not exist (the file has %d HDUs)",
                        spec->index, n_hdus);
    if (spec->mode == HDU_NAME) {
        if (spec->extver)
            return OTF_FAIL(eb, OTF_E_INVAL, "no HDU named '%s' with EXTVER %d", spec->name,
                            spec->extver);
        return OTF_FAIL(eb, OTF_E_INVAL, "no HDU named '%s'", spec->name);
    }
    return OTF_FAIL(eb, OTF_E_FORMAT, "no image HDU with 2 non-degenerate axes (%s)", seen);
}

/* ---- open / close ---- */

static void set_name(struct otf_fits_image *img, const char *path)
{
    const char *base = strrchr(path, '/');
    snprintf(img->name, sizeof img->name, "%s", base ? base + 1 : path);
}

static enum otf_status open_common(struct otf_fits_image *img, const char *path,
                                   const char *hdu_spec, uint64_t file_bytes, struct otf_errbuf *eb)
{
    struct hdu_spec spec;
    enum otf_status rc = parse_spec(hdu_spec, &spec, eb);
    int st = 0;

    if (rc != OTF_OK)
        return rc;
    otf_fits_lock_cfitsio();
    if (path)
        fits_open_diskfile(&img->fptr, path, READONLY, &st);
    else
        fits_open_memfile(&img->fptr, "memory.fits", READONLY, &img->mem_ptr, &img->mem_size, 0,
                          NULL, &st);
    if (st) {
        img->fptr = NULL;
        rc = OTF_FITS_FAIL_CFITSIO(eb, st, path, "not a valid FITS file");
        if (rc == OTF_E_IO && path == NULL)
            rc = OTF_E_FORMAT;
        goto out;
    }
    rc = select_hdu(img, &spec, file_bytes, eb);
out:
    otf_fits_unlock_cfitsio();
    return rc;
}

enum otf_status otf_fits_open_image(const char *path, const char *hdu_spec,
                                    struct otf_fits_image **out, struct otf_errbuf *eb)
{
    struct otf_fits_image *img = NULL;
    uint64_t size = 0;
    enum otf_status rc;

    OTF_ASSERT(path && out);
    rc = check_file(path, &size, eb);
    if (rc != OTF_OK)
        return rc;
    img = otf_xcalloc(1, sizeof *img);
    img->path = otf_xstrdup(path);
    set_name(img, path);
    rc = open_common(img, path, hdu_spec, size, eb);
    if (rc != OTF_OK)
        goto out;
    *out = img;
    img = NULL;
out:
    otf_fits_close_image(img);
    return rc;
}

enum otf_status otf_fits_open_image_mem(const void *data, size_t len, const char *hdu_spec,
                                        struct otf_fits_image **out, struct otf_errbuf *eb)
{
    struct otf_fits_image *img = NULL;
    enum otf_status rc;

    OTF_ASSERT(out && (data || len == 0));
    rc = check_magic(data, len, len, eb);
    if (rc != OTF_OK)
        return rc;
    img = otf_xcalloc(1, sizeof *img);
    set_name(img, "memory.fits");
    if (len % 2880 == 0) {
        /* Opened READONLY: cfitsio never writes through this pointer. */
        img->mem_ptr = (void *)(uintptr_t)data;
        img->mem_size = len;
    } else {
        /* cfitsio's memory driver copies whole 2880-byte records: without this padded copy it
         * would read past the end of a buffer whose last record is short. */
        size_t padded = len + (2880 - len % 2880);
        img->mem_copy = otf_calloc(1, padded);
        if (!img->mem_copy) {
            rc = OTF_FAIL(eb, OTF_E_NOMEM, "no memory for a %zu-byte FITS buffer", padded);
            goto out;
        }
        memcpy(img->mem_copy, data, len);
        img->mem_ptr = img->mem_copy;
        img->mem_size = padded;
    }
    rc = open_common(img, NULL, hdu_spec, len, eb);
    if (rc != OTF_OK)
        goto out;
    *out = img;
    img = NULL;
out:
    otf_fits_close_image(img);
    return rc;
}

void otf_fits_close_image(struct otf_fits_image *img)
{
    int st = 0;

    if (!img)
        return;
    if (img->fptr) {
        otf_fits_lock_cfitsio();
        fits_close_file(img->fptr, &st);
        fits_clear_errmsg();
        otf_fits_unlock_cfitsio();
    }
    otf_free(img->mem_copy);
    free(img->path);
    free(img);
}

const struct otf_fits_info *otf_fits_image_info(const struct otf_fits_image *img)
{
    return &img->info;
}

void otf_fits_image_size(const struct otf_fits_image *img, int64_t *width, int64_t *height)
{
    *width = img->info.width;
    *height = img->info.height;
}

/* ---- pixels ---- */

#define TILE_MAX_SIDE ((int64_t)1 << 22)
#define TILE_MAX_POS  ((int64_t)1 << 40)

static void fill_nan(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
}

enum otf_status otf_fits_read_tile(struct otf_fits_image *img, int64_t x0, int64_t y0, int64_t w,
                                   int64_t h, float *out, struct otf_errbuf *eb)
{
    long fpix[OTF_FITS_MAX_NAXIS], lpix[OTF_FITS_MAX_NAXIS], inc[OTF_FITS_MAX_NAXIS];
    int64_t ix0, iy0, ix1, iy1, iw, ih, ox, oy;
    size_t n;
    float nulval = NAN;
    int anynul = 0, st = 0;
    enum otf_status rc = OTF_OK;

    OTF_ASSERT(img && img->fptr && out);
    if (w < 1 || h < 1 || w > TILE_MAX_SIDE || h > TILE_MAX_SIDE)
        return OTF_FAIL(eb, OTF_E_INVAL, "tile size %lld x %lld out of range", (long long)w,
                        (long long)h);
    if (x0 < -TILE_MAX_POS || x0 > TILE_MAX_POS || y0 < -TILE_MAX_POS || y0 > TILE_MAX_POS)
        return OTF_FAIL(eb, OTF_E_INVAL, "tile origin (%lld, %lld) out of range", (long long)x0,
                        (long long)y0);
    if (otf_mul_size((size_t)w, (size_t)h, &n) != 0)
        return OTF_FAIL(eb, OTF_E_INVAL, "tile too large");

    ix0 = i64_max(x0, 0);
    iy0 = i64_max(y0, 0);
    ix1 = i64_min(x0 + w, img->info.width);
    iy1 = i64_min(y0 + h, img->info.height);
    if (ix0 >= ix1 || iy0 >= iy1) {
        fill_nan(out, n);
        return OTF_OK;
    }
    iw = ix1 - ix0;
    ih = iy1 - iy0;
    for (int i = 0; i < img->info.naxis; i++) {
        fpix[i] = lpix[i] = inc[i] = 1;
    }
    fpix[0] = (long)ix0 + 1;
    lpix[0] = (long)ix1;
    fpix[1] = (long)iy0 + 1;
    lpix[1] = (long)iy1;

    otf_fits_lock_cfitsio();
    /* The overlap lands packed at the start of `out`, then is spread in place below. */
    if (fits_read_subset(img->fptr, TFLOAT, fpix, lpix, inc, &nulval, out, &anynul, &st))
        rc = OTF_FITS_FAIL_CFITSIO(eb, st, NULL, "reading pixels [%lld:%lld, %lld:%lld] of %s",
                                   (long long)ix0, (long long)ix1, (long long)iy0, (long long)iy1,
                                   img->name);
    otf_fits_unlock_cfitsio();
    if (rc != OTF_OK)
        return rc;
    if (iw == w && ih == h)
        return OTF_OK;

    /* Last row first: row r moves to (oy + r) * w + ox >= r * iw, never over an unmoved row. */
    ox = ix0 - x0;
    oy = iy0 - y0;
    for (int64_t r = ih - 1; r >= 0; r--)
        memmove(out + (oy + r) * w + ox, out + r * iw, (size_t)iw * sizeof *out);
    fill_nan(out, (size_t)(oy * w));
    for (int64_t r = 0; r < ih; r++) {
        fill_nan(out + (oy + r) * w, (size_t)ox);
        fill_nan(out + (oy + r) * w + ox + iw, (size_t)(w - ox - iw));
    }
    fill_nan(out + (oy + ih) * w, (size_t)((h - oy - ih) * w));
    return OTF_OK;
}

/* ---- header facts ---- */

static void key_str(fitsfile *f, const char *key, char *out, size_t cap)
{
    char v[FLEN_VALUE] = "";
    int st = 0;
    size_t len;

    out[0] = '\0';
    fits_write_errmark();
    if (fits_read_key(f, TSTRING, key, v, NULL, &st) == 0) {
        len = strlen(v);
        while (len > 0 && v[len - 1] == ' ')
            v[--len] = '\0';
        snprintf(out, cap, "%s", v);
    }
    fits_clear_errmark();
}

static double key_dbl(fitsfile *f, const char *key)
{
    double v = NAN;
    int st = 0;

    fits_write_errmark();
    if (fits_read_key(f, TDOUBLE, key, &v, NULL, &st) != 0 || !isfinite(v))
        v = NAN;
    fits_clear_errmark();
    return v;
}

/* AIPS writes the restoring beam only as "HISTORY AIPS   CLEAN BMAJ=  1.3889E-03 BMIN= ...
 * BPA= ..." (deg); the last such card is the one in force. */
static void beam_from_history(fitsfile *f, struct otf_fits_meta *meta)
{
    char card[FLEN_CARD];
    int nkeys = 0, st = 0;

    fits_write_errmark();
    if (fits_get_hdrspace(f, &nkeys, NULL, &st) == 0) {
        for (int i = 1; i <= nkeys && i <= 100000; i++) {
            const char *p;
            double a, b, c;
            if (fits_read_record(f, i, card, &st))
                break;
            if (strncmp(card, "HISTORY", 7) != 0 || !(p = strstr(card, "BMAJ=")))
                continue;
            if (sscanf(p, "BMAJ=%lf BMIN=%lf BPA=%lf", &a, &b, &c) == 3 && isfinite(a) &&
                isfinite(b) && isfinite(c) && a > 0 && b > 0) {
                meta->bmaj_deg = a;
                meta->bmin_deg = b;
                meta->bpa_deg = c;
            }
        }
    }
    fits_clear_errmark();
}

static double unit_to_hz(const char *unit)
{
    if (!unit[0] || otf_str_ieq(unit, "Hz"))
        return 1.0;
    if (otf_str_ieq(unit, "kHz"))
        return 1e3;
    if (otf_str_ieq(unit, "MHz"))
        return 1e6;
    if (otf_str_ieq(unit, "GHz"))
        return 1e9;
    return NAN;
}

/* A radio image keeps its frequency on a FREQ axis, often degenerate or only present as
 * keywords (CTYPE3 = 'FREQ' with NAXIS = 2). The value at pixel 1 of that axis is the one. */
static double freq_from_axes(fitsfile *f)
{
    char key[16], ctype[72], unit[72];

    for (int i = 1; i <= OTF_FITS_MAX_NAXIS; i++) {
        double crval, crpix, cdelt, scale;
        snprintf(key, sizeof key, "CTYPE%d", i);
        key_str(f, key, ctype, sizeof ctype);
        if (strncmp(ctype, "FREQ", 4) != 0 || (ctype[4] != '\0' && ctype[4] != '-'))
            continue;
        snprintf(key, sizeof key, "CRVAL%d", i);
        crval = key_dbl(f, key);
        snprintf(key, sizeof key, "CRPIX%d", i);
        crpix = key_dbl(f, key);
        snprintf(key, sizeof key, "CDELT%d", i);
        cdelt = key_dbl(f, key);
        snprintf(key, sizeof key, "CUNIT%d", i);
        key_str(f, key, unit, sizeof unit);
        scale = unit_to_hz(unit);
        if (!isfinite(crval))
            return NAN;
        if (isfinite(crpix) && isfinite(cdelt))
            crval += (1.0 - crpix) * cdelt;
        return crval * scale;
    }
    return NAN;
}

enum otf_status otf_fits_read_meta(struct otf_fits_image *img, struct otf_fits_meta *meta,
                                   struct otf_errbuf *eb)
{
    fitsfile *f;

    OTF_ASSERT(img && img->fptr && meta);
    (void)eb;
    f = img->fptr;
    memset(meta, 0, sizeof *meta);
    otf_fits_lock_cfitsio();
    key_str(f, "BUNIT", meta->bunit, sizeof meta->bunit);
    meta->bmaj_deg = key_dbl(f, "BMAJ");
    meta->bmin_deg = key_dbl(f, "BMIN");
    meta->bpa_deg = key_dbl(f, "BPA");
    if (isnan(meta->bmaj_deg) && isnan(meta->bmin_deg))
        beam_from_history(f, meta);
    key_str(f, "RADESYS", meta->radesys, sizeof meta->radesys);
    if (!meta->radesys[0])
        key_str(f, "RADECSYS", meta->radesys, sizeof meta->radesys);
    meta->equinox = key_dbl(f, "EQUINOX");
    if (isnan(meta->equinox))
        meta->equinox = key_dbl(f, "EPOCH");
    key_str(f, "DATE-OBS", meta->date_obs, sizeof meta->date_obs);
    key_str(f, "TELESCOP", meta->telescop, sizeof meta->telescop);
    key_str(f, "OBJECT", meta->object, sizeof meta->object);
    meta->freq_hz = freq_from_axes(f);
    fits_clear_errmsg();
    otf_fits_unlock_cfitsio();
    return OTF_OK;
}

/* ---- header cards for wcslib ---- */

enum otf_status otf_fits_read_cards(struct otf_fits_image *img, char **cards, int *nkeys,
                                    struct otf_errbuf *eb)
{
    int st = 0;

    *cards = NULL;
    *nkeys = 0;
    fits_hdr2str(img->fptr, 1, NULL, 0, cards, nkeys, &st);
    if (st) {
        *cards = NULL;
        return OTF_FITS_FAIL_CFITSIO(eb, st, NULL, "reading the header of %s", img->name);
    }
    return OTF_OK;
}

void otf_fits_free_cards(char *cards)
{
    int st = 0;
    if (cards)
        fits_free_memory(cards, &st);
}

/* ---- submission check ---- */

enum otf_status otf_fits_probe(const char *path, const char *hdu_spec, struct otf_fits_info *info,
                               struct otf_errbuf *eb)
{
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    struct otf_errbuf wcs_eb = {0};
    enum otf_status rc;

    OTF_ASSERT(path && info);
    rc = otf_fits_open_image(path, hdu_spec, &img, eb);
    if (rc != OTF_OK)
        goto out;
    /* A missing or broken WCS is not a reason to refuse the image: pixel ROIs still work. */
    rc = otf_fits_read_wcs(img, &wcs, &wcs_eb);
    if (rc == OTF_E_NOMEM) {
        otf_errbuf_set(eb, rc, wcs_eb.func, wcs_eb.line, "%s", wcs_eb.msg);
        goto out;
    }
    rc = OTF_OK;
    *info = img->info;
out:
    otf_fits_free_wcs(wcs);
    otf_fits_close_image(img);
    return rc;
}

enum otf_status otf_fits_probe_roi(const char *path, const char *hdu_spec, double ra_deg,
                                   double dec_deg, double size_deg, int64_t roi_out[4],
                                   struct otf_errbuf *eb)
{
    struct otf_fits_image *img = NULL;
    struct otf_fits_wcs *wcs = NULL;
    enum otf_status rc;

    OTF_ASSERT(path && roi_out);
    rc = otf_fits_open_image(path, hdu_spec, &img, eb);
    if (rc == OTF_OK)
        rc = otf_fits_read_wcs(img, &wcs, eb);
    if (rc == OTF_OK)
        rc = otf_fits_roi_from_sky(wcs, img->info.width, img->info.height, ra_deg, dec_deg,
                                   size_deg, roi_out, eb);
    otf_fits_free_wcs(wcs);
    otf_fits_close_image(img);
    return rc;
}
