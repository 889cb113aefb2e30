/* Small string helpers and random identifiers. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/core.h"

int otf_str_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    }
    return *a == *b;
}

enum otf_status otf_str_to_double(const char *s, double *out)
{
    char *end;
    double v;
    if (!s)
        return OTF_E_INVAL;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return OTF_E_INVAL;
    errno = 0;
    v = strtod(s, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (*end || errno == ERANGE || !isfinite(v))
        return OTF_E_INVAL;
    *out = v;
    return OTF_OK;
}

enum otf_status otf_str_to_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (!s)
        return OTF_E_INVAL;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return OTF_E_INVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (*end || errno == ERANGE)
        return OTF_E_INVAL;
    *out = v;
    return OTF_OK;
}

int otf_str_is_safe_name(const char *s)
{
    if (!s || !*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return 0;
    }
    return 1;
}

enum otf_status otf_random_bytes(void *out, size_t n)
{
    unsigned char *p = out;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return OTF_E_IO;
        }
        p += r;
        n -= (size_t)r;
    }
    return OTF_OK;
}

enum otf_status otf_random_id(char *out, size_t len)
{
    static const char *alpha = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char raw[64];
    if (len == 0 || len > sizeof raw)
        return OTF_E_INVAL;
    if (otf_random_bytes(raw, len) != OTF_OK)
        return OTF_E_IO;
    /* 252 = 7*36: reject bytes above it would be exact; the bias of plain modulo over 256 is
     * irrelevant for ids, which only need to be unique and unguessable. */
    for (size_t i = 0; i < len; i++)
        out[i] = alpha[raw[i] % 36];
    out[len] = '\0';
    return OTF_OK;
}

int otf_fmt_fixed(char *buf, size_t cap, double v, int decimals)
{
    static const double p10[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    static const uint64_t u10[10] = {1,      10,      100,      1000,      10000,
                                     100000, 1000000, 10000000, 100000000, 1000000000};
    char tmp[48], *p = tmp + sizeof tmp;
    double a, r, fl, fr;
    uint64_t n, ip, fp;
    int len;

    if (decimals < 0 || decimals > 9 || !(fabs(v) < 1e15 / p10[decimals]))
        return snprintf(buf, cap, "%.*f", decimals, v);
    a = fabs(v);
    r = a * p10[decimals]; /* exact to half an ulp of r: only near-ties are in doubt */
    fl = floor(r);
    fr = r - fl;
    if (fabs(fr - 0.5) <= 2 * (nextafter(r, INFINITY) - r))
        return snprintf(buf, cap, "%.*f", decimals, v);
    n = (uint64_t)fl + (fr > 0.5);
    ip = n / u10[decimals];
    fp = n % u10[decimals];
    for (int i = 0; i < decimals; i++, fp /= 10)
        *--p = (char)('0' + fp % 10);
    if (decimals > 0)
        *--p = '.';
    do {
        *--p = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip);
    if (signbit(v))
        *--p = '-'; /* as printf: -0.000 for a negative value that rounds to zero */
    len = (int)(tmp + sizeof tmp - p);
    if (cap > 0) {
        size_t k = (size_t)len < cap ? (size_t)len : cap - 1;
        memcpy(buf, p, k);
        buf[k] = '\0';
    }
    return len;
}
