/* Bounded growable buffer (STYLE §5, after curl's dynbuf): every append checks the cap. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void otf_buf_init(struct otf_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
}

void otf_buf_cleanup(struct otf_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}

void otf_buf_reset(struct otf_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

enum otf_status otf_buf_append(struct otf_buf *b, const void *p, size_t n)
{
    size_t need;

    if (n > b->max || b->len > b->max - n)
        return OTF_E_LIMIT;
    need = b->len + n + 1;
    if (need > b->alloc) {
        size_t a = b->alloc ? b->alloc : 256;
        char *q;
        while (a < need)
            a = a > SIZE_MAX / 2 ? need : a * 2;
        q = realloc(b->data, a);
        if (!q)
            return OTF_E_NOMEM;
        b->data = q;
        b->alloc = a;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return OTF_OK;
}

enum otf_status otf_buf_printf(struct otf_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    int n;
    enum otf_status rc;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return OTF_E_INTERNAL;
    if ((size_t)n < sizeof small)
        return otf_buf_append(b, small, (size_t)n);
    {
        char *big = malloc((size_t)n + 1);
        if (!big)
            return OTF_E_NOMEM;
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        rc = otf_buf_append(b, big, (size_t)n);
        free(big);
    }
    return rc;
}

char *otf_buf_steal(struct otf_buf *b, size_t *len)
{
    char *p = b->data;
    if (!p) {
        p = otf_xmalloc(1);
        p[0] = '\0';
    }
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->alloc = 0;
    return p;
}
