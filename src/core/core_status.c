/* Status texts and the error buffer (STYLE §4). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

const char *otf_status_str(enum otf_status st)
{
    switch (st) {
    case OTF_OK:
        return "ok";
    case OTF_E_NOMEM:
        return "out of memory";
    case OTF_E_IO:
        return "input/output error";
    case OTF_E_FORMAT:
        return "malformed input";
    case OTF_E_LIMIT:
        return "limit exceeded";
    case OTF_E_NOTFOUND:
        return "not found";
    case OTF_E_STATE:
        return "not allowed in the current state";
    case OTF_E_BACKEND:
        return "backend failure";
    case OTF_E_INTERNAL:
        return "internal error";
    case OTF_E_INVAL:
        return "invalid argument";
    case OTF_E_AUTH:
        return "not authorised";
    case OTF_E_BUSY:
        return "busy, retry later";
    case OTF_E_TIMEOUT:
        return "timed out";
    case OTF_E_NET:
        return "network error";
    case OTF_E__COUNT:
        break;
    }
    return "unknown status";
}

enum otf_status otf_errbuf_set(struct otf_errbuf *eb, enum otf_status code, const char *func,
                               int line, const char *fmt, ...)
{
    if (eb) {
        va_list ap;
        eb->code = code;
        eb->func = func;
        eb->line = line;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void otf_errbuf_prefix(struct otf_errbuf *eb, const char *fmt, ...)
{
    char pre[OTF_ERRBUF_SIZE];
    char old[OTF_ERRBUF_SIZE];
    va_list ap;

    if (!eb)
        return;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, eb->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    /* Truncation is acceptable here: the message is for humans. */
    {
        size_t n = strnlen(pre, sizeof eb->msg - 3);
        memcpy(eb->msg, pre, n);
        memcpy(eb->msg + n, ": ", 2);
        n += 2;
        size_t k = strnlen(old, sizeof eb->msg - 1 - n);
        memcpy(eb->msg + n, old, k);
        eb->msg[n + k] = '\0';
    }
}

void otf_core_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "assertion failed: %s (%s:%d in %s)\n", expr, file, line, func);
    fflush(stderr);
    abort();
}
