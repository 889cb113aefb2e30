/* Small string helpers and random identifiers. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
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
