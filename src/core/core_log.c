/* The logger: the only global (STYLE §6). One line per call, written with one fputs under a
 * lock so that lines from threads never interleave. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

static enum otf_log_level log_min = OTF_LOG_INFO;
static FILE *log_stream;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void otf_log_setup(enum otf_log_level min_level, FILE *stream)
{
    log_min = min_level;
    log_stream = stream;
}

enum otf_status otf_log_level_parse(const char *s, enum otf_log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++) {
        if (otf_str_ieq(s, names[i])) {
            *out = (enum otf_log_level)i;
            return OTF_OK;
        }
    }
    return OTF_E_INVAL;
}

void otf_log_write(enum otf_log_level lv, const char *module, const char *fmt, ...)
{
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char line[2048];
    char ts[OTF_TIME_ISO_LEN];
    size_t n;
    va_list ap;

    if (lv < log_min || lv >= OTF_LOG_OFF)
        return;
    otf_time_format_iso(otf_time_now_us(), ts);
    n = (size_t)snprintf(line, sizeof line, "%s %-5s %s: ", ts, tags[lv], module);
    if (n < sizeof line) {
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof line - n, fmt, ap);
        va_end(ap);
    }
    n = strlen(line);
    if (n + 1 >= sizeof line)
        n = sizeof line - 2;
    line[n] = '\n';
    line[n + 1] = '\0';
    pthread_mutex_lock(&log_lock);
    fputs(line, log_stream ? log_stream : stderr);
    fflush(log_stream ? log_stream : stderr);
    pthread_mutex_unlock(&log_lock);
}
