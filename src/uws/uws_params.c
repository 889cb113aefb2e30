/* Parameter values: syntax checks for the parameters of DESIGN §3 and the precision names
 * (CIANNA mixed-precision modes, cianna-format §8, are aliases). Also the XML/UTF-8 text rules
 * every stored value must follow so that the UWS documents stay well-formed. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "uws/uws.h"
#include "uws/uws_int.h"

/* Decodes one UTF-8 sequence at s[0..n); returns its length and the code point, or 0 if it is
 * not valid (overlong, surrogate, > U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0], v;
    size_t len;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* XML 1.0 "Char" production (section 2.2). */
static int xml_char(unsigned cp)
{
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
           (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

int otf_uws_text_is_clean(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned cp;
        size_t k = utf8_decode(p + i, n - i, &cp);
        if (k == 0 || !xml_char(cp))
            return 0;
        i += k;
    }
    return 1;
}

char *otf_uws_text_clean(const char *s)
{
    static const char repl[] = "\xEF\xBF\xBD"; /* U+FFFD */
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, o = 0;
    char *out;

    /* Each bad byte becomes 3 bytes at most. */
    out = otf_xmalloc(n * 3 + 1);
    while (i < n) {
        unsigned cp;
        size_t k = utf8_decode(p + i, n - i, &cp);
        if (k == 0 || !xml_char(cp)) {
            memcpy(out + o, repl, 3);
            o += 3;
            i += k ? k : 1;
        } else {
            memcpy(out + o, p + i, k);
            o += k;
            i += k;
        }
    }
    out[o] = '\0';
    return out;
}

const char *otf_uws_precision_canonical(const char *s)
{
    static const struct {
        const char *name, *canonical;
    } table[] = {
        {"FP32", "FP32"},
        {"BF16", "BF16"},
        {"FP16", "FP16"},
        {"TF32", "TF32"},
        {"INT8", "INT8"},
        /* CIANNA init(mixed_precision=...) modes: storage type C, accumulation type A. */
        {"FP32C_FP32A", "FP32"},
        {"TF32C_FP32A", "TF32"},
        {"FP16C_FP32A", "FP16"},
        {"FP16C_FP16A", "FP16"},
        {"BF16C_FP32A", "BF16"},
        {"BF16C_BF16A", "BF16"},
        /* CIANNA's older spellings: "off" is FP32C_FP32A, "on" is FP16C_FP32A. */
        {"off", "FP32"},
        {"on", "FP16"},
    };

    if (!s)
        return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (otf_str_ieq(s, table[i].name))
            return table[i].canonical;
    }
    return NULL;
}

static enum otf_status check_range(const char *name, const char *value, double lo, double hi,
                                   int lo_open, struct otf_errbuf *eb)
{
    double v;

    if (otf_str_to_double(value, &v) != OTF_OK)
        return OTF_FAIL(eb, OTF_E_INVAL, "%s: not a number: '%.64s'", name, value);
    if (v < lo || v > hi || (lo_open && v == lo))
        return OTF_FAIL(eb, OTF_E_INVAL, "%s: %g is outside %s%g, %g]", name, v,
                        lo_open ? "(" : "[", lo, hi);
    return OTF_OK;
}

/* ROI=x0,y0,x1,y1: 0-based pixel corners (x1, y1 excluded), DESIGN §3. */
enum otf_status otf_uws_parse_roi(const char *value, int64_t c[4], struct otf_errbuf *eb)
{
    const char *p = value;

    for (int i = 0; i < 4; i++) {
        char tmp[32];
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if ((i < 3 && !end) || (i == 3 && end) || len == 0 || len >= sizeof tmp)
            return OTF_FAIL(eb, OTF_E_INVAL, "roi: expected x0,y0,x1,y1 integers, got '%.64s'",
                            value);
        memcpy(tmp, p, len);
        tmp[len] = '\0';
        if (otf_str_to_i64(tmp, &c[i]) != OTF_OK || c[i] < 0 || c[i] > (INT64_C(1) << 31))
            return OTF_FAIL(eb, OTF_E_INVAL, "roi: '%s' is not a pixel index", tmp);
        p = end ? end + 1 : p + len;
    }
    if (c[0] >= c[2] || c[1] >= c[3])
        return OTF_FAIL(eb, OTF_E_INVAL, "roi: need x0 < x1 and y0 < y1, got '%.64s'", value);
    return OTF_OK;
}

static int is_name_char(int c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.';
}

static enum otf_status check_url(const char *value, struct otf_errbuf *eb)
{
    size_t skip;

    if (strncasecmp(value, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(value, "https://", 8) == 0)
        skip = 8;
    else
        return OTF_FAIL(eb, OTF_E_INVAL, "image_url: only http:// and https:// URLs are allowed");
    if (value[skip] == '\0' || value[skip] == '/')
        return OTF_FAIL(eb, OTF_E_INVAL, "image_url: no host in '%.64s'", value);
    for (const char *p = value; *p; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F)
            return OTF_FAIL(eb, OTF_E_INVAL,
                            "image_url: spaces, controls and raw non-ASCII bytes must be "
                            "percent-encoded");
    }
    return OTF_OK;
}

enum otf_status otf_uws_param_check(const char *name, const char *value, struct otf_errbuf *eb)
{
    char canon[OTF_UWS_NAME_MAX + 1];
    size_t name_len, value_len;

    if (!name || !value)
        return OTF_FAIL(eb, OTF_E_INVAL, "parameter name or value missing");
    name_len = strlen(name);
    if (name_len == 0 || name_len > OTF_UWS_NAME_MAX)
        return OTF_FAIL(eb, OTF_E_INVAL, "parameter name must have 1 to %d characters",
                        OTF_UWS_NAME_MAX);
    for (const char *p = name; *p; p++) {
        if (!is_name_char((unsigned char)*p))
            return OTF_FAIL(eb, OTF_E_INVAL,
                            "parameter name '%.64s' may use only letters, digits, '_', '-', '.'",
                            name);
    }
    value_len = strlen(value);
    if (value_len > OTF_UWS_VALUE_MAX)
        return OTF_FAIL(eb, OTF_E_INVAL, "%s: value longer than %d bytes", name, OTF_UWS_VALUE_MAX);
    if (!otf_uws_text_is_clean(value, value_len))
        return OTF_FAIL(eb, OTF_E_INVAL, "%s: value is not UTF-8 text without control characters",
                        name);

    if (!otf_uws_param_canonical(name, canon, sizeof canon))
        return OTF_OK; /* unknown parameters are kept as they are (DALI) */
    if (strcmp(canon, "ra") == 0)
        return check_range("ra", value, 0.0, 360.0, 0, eb);
    if (strcmp(canon, "dec") == 0)
        return check_range("dec", value, -90.0, 90.0, 0, eb);
    if (strcmp(canon, "size") == 0)
        return check_range("size", value, 0.0, 180.0, 1, eb);
    if (strcmp(canon, "threshold") == 0)
        return check_range("threshold", value, 0.0, 1.0, 0, eb);
    if (strcmp(canon, "nms") == 0)
        return check_range("nms", value, 0.0, 1.0, 0, eb);
    if (strcmp(canon, "roi") == 0) {
        int64_t c[4];
        return otf_uws_parse_roi(value, c, eb);
    }
    if (strcmp(canon, "precision") == 0) {
        if (!otf_uws_precision_canonical(value))
            return OTF_FAIL(eb, OTF_E_INVAL,
                            "precision: unknown '%.64s' (FP32, BF16, FP16, TF32, INT8 or a CIANNA "
                            "mode such as FP16C_FP32A)",
                            value);
        return OTF_OK;
    }
    if (strcmp(canon, "hdu") == 0) {
        int64_t n;
        if (otf_str_to_i64(value, &n) == OTF_OK)
            return n >= 0 && n < 100000
                       ? OTF_OK
                       : OTF_FAIL(eb, OTF_E_INVAL, "hdu: %lld is out of range", (long long)n);
        /* An EXTNAME value holds at most 68 characters (FITS 4.0, 4.2.1.1). */
        if (!otf_str_is_safe_name(value) || value_len > 68)
            return OTF_FAIL(eb, OTF_E_INVAL,
                            "hdu: '%.64s' is neither a number nor a name of [A-Za-z0-9_.-]", value);
        return OTF_OK;
    }
    if (strcmp(canon, "model") == 0) {
        if (!otf_str_is_safe_name(value) || value_len > OTF_UWS_NAME_MAX)
            return OTF_FAIL(eb, OTF_E_INVAL, "model: '%.64s' is not a model id ([A-Za-z0-9_.-])",
                            value);
        return OTF_OK;
    }
    if (strcmp(canon, "image_url") == 0)
        return check_url(value, eb);
    if (strcmp(canon, "runid") == 0) {
        if (value_len > 256)
            return OTF_FAIL(eb, OTF_E_INVAL, "runid: longer than 256 bytes");
        return OTF_OK;
    }
    return OTF_OK; /* image: a reference the http module writes itself */
}
