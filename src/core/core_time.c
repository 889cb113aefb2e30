/* Clocks and ISO 8601 timestamps (UWS 1.1 recommends UTC with a trailing Z; DALI literals). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

/* Microseconds on `clock` (0 when the clock cannot be read). */
static int64_t clock_us(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t otf_time_now_us(void)
{
    return clock_us(CLOCK_REALTIME);
}

int64_t otf_time_mono_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

int64_t otf_time_thread_cpu_us(void)
{
    return clock_us(CLOCK_THREAD_CPUTIME_ID);
}

int64_t otf_time_process_cpu_us(void)
{
    return clock_us(CLOCK_PROCESS_CPUTIME_ID);
}

void otf_time_format_iso(int64_t t_us, char *out)
{
    time_t sec = (time_t)(t_us >= 0 ? t_us / 1000000 : (t_us - 999999) / 1000000);
    int ms = (int)((t_us - (int64_t)sec * 1000000) / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    /* Years stay in 0000-9999 for any time this service handles; the modulo keeps the compiler's
     * length analysis exact. */
    snprintf(out, OTF_TIME_ISO_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100,
             tm.tm_min % 100, tm.tm_sec % 100, ms % 1000);
}

/* Reads exactly `n` digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

enum otf_status otf_time_parse_iso(const char *s, int64_t *t_us)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0, off_min = 0;
    int64_t frac_us = 0;
    const char *p = s;
    time_t t;

    if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return OTF_E_INVAL;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            return OTF_E_INVAL;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec))
                return OTF_E_INVAL;
            if (*p == '.') {
                int64_t scale = 100000;
                p++;
                if (!isdigit((unsigned char)*p))
                    return OTF_E_INVAL;
                while (isdigit((unsigned char)*p)) {
                    frac_us += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om;
            p++;
            if (digits(&p, 2, &oh))
                return OTF_E_INVAL;
            if (*p == ':')
                p++;
            if (digits(&p, 2, &om))
                return OTF_E_INVAL;
            off_min = sign * (oh * 60 + om);
        }
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
        y < 1970 || y > 9999)
        return OTF_E_INVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return OTF_E_INVAL;
    *t_us = ((int64_t)t - (int64_t)off_min * 60) * 1000000 + frac_us;
    return OTF_OK;
}
