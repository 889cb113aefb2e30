/* Allocation wrappers (STYLE §4): x-variants abort on OOM (bookkeeping); plain variants may fail
 * (data), and can be made to fail on purpose with OTF_TEST_FAIL_ALLOC_AT for fault injection. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static void oom(size_t n)
{
    fprintf(stderr, "out of memory allocating %zu bytes\n", n);
    abort();
}

void *otf_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *otf_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *otf_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *otf_xstrdup(const char *s)
{
    return otf_xstrndup(s, strlen(s));
}

char *otf_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = otf_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *otf_xasprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    OTF_ASSERT(n >= 0);
    p = otf_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* Fault injection: the counter is process-wide; -1 means "not configured yet". */
static atomic_long fail_at = -1;
static atomic_long n_calls;

static int should_fail(void)
{
    long at = atomic_load(&fail_at);
    if (at == -1) {
        const char *e = getenv("OTF_TEST_FAIL_ALLOC_AT");
        at = e ? strtol(e, NULL, 10) : 0;
        atomic_store(&fail_at, at);
    }
    return at > 0 && atomic_fetch_add(&n_calls, 1) + 1 == at;
}

void *otf_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *otf_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void otf_free(void *p)
{
    free(p);
}

int otf_mul_size(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}
