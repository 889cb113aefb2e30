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

/* Copies the `len` characters at p into buf as snprintf would (truncated, NUL-terminated). */
static int fmt_out(char *buf, size_t cap, const char *p, int len)
{
    if (cap > 0) {
        size_t k = (size_t)len < cap ? (size_t)len : cap - 1;
        memcpy(buf, p, k);
        buf[k] = '\0';
    }
    return len;
}

int otf_fmt_fixed(char *buf, size_t cap, double v, int decimals)
{
    static const double p10[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    static const uint64_t u10[10] = {1,      10,      100,      1000,      10000,
                                     100000, 1000000, 10000000, 100000000, 1000000000};
    char tmp[48], *p = tmp + sizeof tmp;
    double a, r, fl, fr;
    uint64_t n, ip, fp;

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
    return fmt_out(buf, cap, p, (int)(tmp + sizeof tmp - p));
}

int otf_fmt_general(char *buf, size_t cap, double v, int digits)
{
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    char d[16], tmp[48], *q = tmp;
    double a = fabs(v), r, fl, fr;
    uint64_t n;
    int e, k;

    if (digits < 1 || digits > 9 || !(a >= 1e-20 && a <= 1e20)) {
        if (v == 0 && digits >= 1 && digits <= 9) /* "0" or "-0", as printf */
            return fmt_out(buf, cap, signbit(v) ? "-0" : "0", signbit(v) ? 2 : 1);
        return snprintf(buf, cap, "%.*g", digits, v);
    }
    /* decimal exponent e and the digits as an integer n in [10^(digits-1), 10^digits):
     * r = a * 10^(digits-1-e), one correctly rounded operation by an exact power of ten */
    {
        /* floor(log10 a) from the binary exponent: at most one off, which the loop mends */
        uint64_t bits;
        memcpy(&bits, &a, sizeof bits);
        e = (int)floor((double)((int)(bits >> 52) - 1023) * 0.30102999566398120);
    }
    for (int tries = 0;; tries++) {
        k = digits - 1 - e;
        if (k < -22 || k > 22 || tries > 2)
            return snprintf(buf, cap, "%.*g", digits, v);
        r = k >= 0 ? a * p10[k] : a / p10[-k];
        if (r < p10[digits - 1])
            e--;
        else if (r >= p10[digits])
            e++;
        else
            break;
    }
    fl = floor(r);
    fr = r - fl;
    if (fabs(fr - 0.5) <= 2 * r * 0x1p-52) /* r * 2^-52 >= one ulp of r */
        return snprintf(buf, cap, "%.*g", digits, v);
    n = (uint64_t)fl + (fr > 0.5);
    if (n == (uint64_t)p10[digits]) { /* 9.99999 rounded up to 10.0000 */
        n /= 10;
        e++;
    }
    for (int i = digits - 1; i >= 0; i--, n /= 10)
        d[i] = (char)('0' + n % 10);
    k = digits; /* significant digits left once trailing zeros go ("%g" drops them) */
    while (k > 1 && d[k - 1] == '0')
        k--;
    if (signbit(v))
        *q++ = '-';
    if (e < -4 || e >= digits) { /* d.ddde+XX */
        *q++ = d[0];
        if (k > 1) {
            *q++ = '.';
            memcpy(q, d + 1, (size_t)k - 1);
            q += k - 1;
        }
        *q++ = 'e';
        *q++ = e < 0 ? '-' : '+';
        e = e < 0 ? -e : e;
        if (e >= 100)
            *q++ = (char)('0' + e / 100);
        *q++ = (char)('0' + e / 10 % 10);
        *q++ = (char)('0' + e % 10);
    } else if (e >= 0) { /* ddd.ddd: e + 1 integer digits */
        memcpy(q, d, (size_t)e + 1);
        q += e + 1;
        if (k > e + 1) {
            *q++ = '.';
            memcpy(q, d + e + 1, (size_t)(k - e - 1));
            q += k - e - 1;
        }
    } else { /* 0.000ddd */
        *q++ = '0';
        *q++ = '.';
        for (int i = 0; i < -e - 1; i++)
            *q++ = '0';
        memcpy(q, d, (size_t)k);
        q += k;
    }
    return fmt_out(buf, cap, tmp, (int)(q - tmp));
}
