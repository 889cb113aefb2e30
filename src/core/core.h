/* core: the bottom layer every module may use (STYLE §2). Status and error buffers, the logger
 * (the only global), allocation wrappers, a bounded growable buffer, clocks and timestamps,
 * atomic file writes, SHA-256 and random identifiers.
 *
 * Threads: every function here is thread-safe; the logger serialises its lines.
 *
 *   struct otf_errbuf eb = {0};
 *   if (otf_fs_write_atomic(path, data, n, &eb) != OTF_OK)
 *       otf_log_error("store", "%s", eb.msg);
 */
#ifndef OTF_CORE_H
#define OTF_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "otf/otf_status.h"

/* ---- errors (STYLE §4) ---- */

#define OTF_ERRBUF_SIZE 512

/* Caller-provided error detail; fixed size, never allocates. `code` repeats the returned status. */
struct otf_errbuf {
    enum otf_status code;
    const char *func; /* static string: where the error was recorded */
    int line;
    char msg[OTF_ERRBUF_SIZE];
};

/* Records `code` and a formatted message into `eb` (which may be NULL) and returns `code`. */
enum otf_status otf_errbuf_set(struct otf_errbuf *eb, enum otf_status code, const char *func,
                               int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Prepends "prefix: " to the message already in `eb` (for context at a module edge). */
void otf_errbuf_prefix(struct otf_errbuf *eb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* `return OTF_FAIL(eb, OTF_E_FORMAT, "bad header at byte %zu", off);` */
#define OTF_FAIL(eb, code, ...) otf_errbuf_set((eb), (code), __func__, __LINE__, __VA_ARGS__)

/* Always-on check for programmer errors only; never for untrusted input. */
#define OTF_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            otf_core_assert_fail(#cond, __FILE__, __LINE__, __func__);                             \
    } while (0)
_Noreturn void otf_core_assert_fail(const char *expr, const char *file, int line, const char *func);

/* ---- logging: the only global; lines are `TIME LEVEL module: message key=value...` ---- */

enum otf_log_level {
    OTF_LOG_DEBUG = 0,
    OTF_LOG_INFO = 1,
    OTF_LOG_WARN = 2,
    OTF_LOG_ERROR = 3,
    OTF_LOG_OFF = 4
};

/* Sets the minimum level and the stream (NULL = stderr). Call before starting threads. */
void otf_log_setup(enum otf_log_level min_level, FILE *stream);
/* Parses "debug|info|warn|error|off"; returns OTF_E_INVAL on anything else. */
enum otf_status otf_log_level_parse(const char *s, enum otf_log_level *out);
void otf_log_write(enum otf_log_level lv, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define otf_log_debug(mod, ...) otf_log_write(OTF_LOG_DEBUG, (mod), __VA_ARGS__)
#define otf_log_info(mod, ...)  otf_log_write(OTF_LOG_INFO, (mod), __VA_ARGS__)
#define otf_log_warn(mod, ...)  otf_log_write(OTF_LOG_WARN, (mod), __VA_ARGS__)
#define otf_log_error(mod, ...) otf_log_write(OTF_LOG_ERROR, (mod), __VA_ARGS__)

/* ---- allocation (STYLE §4) ---- */

/* Bookkeeping allocations: abort the process on out-of-memory. */
void *otf_xmalloc(size_t n);
void *otf_xcalloc(size_t n, size_t size);
void *otf_xrealloc(void *p, size_t n);
char *otf_xstrdup(const char *s);
char *otf_xstrndup(const char *s, size_t n);
char *otf_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Data allocations (images, tensors, uploads): NULL on failure, which the caller reports.
 * OTF_TEST_FAIL_ALLOC_AT=n in the environment makes the n-th call (1-based) fail. */
void *otf_malloc(size_t n);
void *otf_calloc(size_t n, size_t size);
void otf_free(void *p);

/* Multiplies with overflow detection: returns 0 and sets *out, or -1 on overflow. */
int otf_mul_size(size_t a, size_t b, size_t *out);

/* ---- bounded growable buffer (STYLE §5: every buffer has a cap) ---- */

struct otf_buf {
    char *data;   /* NUL-terminated while len < cap */
    size_t len;   /* bytes used */
    size_t alloc; /* bytes allocated */
    size_t max;   /* hard cap on len, bytes */
};

void otf_buf_init(struct otf_buf *b, size_t max);
void otf_buf_cleanup(struct otf_buf *b);
void otf_buf_reset(struct otf_buf *b);
/* Appends; OTF_E_LIMIT when the cap would be passed (buffer unchanged), OTF_E_NOMEM. */
enum otf_status otf_buf_append(struct otf_buf *b, const void *p, size_t n);
enum otf_status otf_buf_printf(struct otf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes the data out (caller frees with free()); the buffer is left empty. */
char *otf_buf_steal(struct otf_buf *b, size_t *len);

/* ---- time ---- */

/* Wall clock, microseconds since the Unix epoch. */
int64_t otf_time_now_us(void);
/* Monotonic clock, microseconds (for durations and deadlines). */
int64_t otf_time_mono_us(void);
/* CPU time of the calling thread, microseconds (what a stage costs, whatever else runs). */
int64_t otf_time_thread_cpu_us(void);
/* CPU time of the whole process (every thread, user + system), microseconds. */
int64_t otf_time_process_cpu_us(void);
/* Formats `t_us` as ISO 8601 UTC with milliseconds and Z: 2025-03-01T12:00:00.123Z.
 * `out` must hold OTF_TIME_ISO_LEN bytes. */
#define OTF_TIME_ISO_LEN 32
void otf_time_format_iso(int64_t t_us, char *out);
/* Parses ISO 8601 (DALI): YYYY-MM-DD[Thh:mm[:ss[.fff]]][Z|±hh:mm]; no zone means UTC. */
enum otf_status otf_time_parse_iso(const char *s, int64_t *t_us);

/* ---- files ---- */

/* Writes `n` bytes to `path` atomically: temp file in the same folder, fsync, rename, fsync of
 * the folder. On failure nothing is left behind and `path` is unchanged. */
enum otf_status otf_fs_write_atomic(const char *path, const void *data, size_t n,
                                    struct otf_errbuf *eb);
/* fsyncs the folder that holds `path` (after a rename into it). */
enum otf_status otf_fs_sync_parent(const char *path, struct otf_errbuf *eb);
/* mkdir -p with mode 0755 (0700 for `private`). */
enum otf_status otf_fs_mkdirs(const char *path, int is_private, struct otf_errbuf *eb);
/* rm -r of a folder tree that this process owns (does not follow symlinks). */
enum otf_status otf_fs_remove_tree(const char *path, struct otf_errbuf *eb);
/* Reads a whole file of at most `max` bytes; *out is NUL-terminated, freed with free(). */
enum otf_status otf_fs_read_file(const char *path, size_t max, char **out, size_t *len,
                                 struct otf_errbuf *eb);

/* ---- SHA-256 (FIPS 180-4) ---- */

struct otf_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;
    uint8_t block[64];
    size_t used;
};
void otf_sha256_init(struct otf_sha256 *s);
void otf_sha256_update(struct otf_sha256 *s, const void *p, size_t n);
void otf_sha256_final(struct otf_sha256 *s, uint8_t digest[32]);
/* Which compression function runs: "sha-ni" or "portable" (OTF_SHA256_PORTABLE=1 forces it). */
const char *otf_sha256_impl(void);
/* Lower-case hex of a digest; `hex` holds 65 bytes. */
void otf_sha256_hex(const uint8_t digest[32], char hex[65]);
/* SHA-256 of a whole file, as hex. */
enum otf_status otf_sha256_file(const char *path, char hex[65], struct otf_errbuf *eb);

/* ---- identifiers ---- */

/* Fills `out` with `n` random bytes from the kernel (getrandom). */
enum otf_status otf_random_bytes(void *out, size_t n);
/* A random URL-safe id of `len` characters [a-z0-9] plus NUL; `len` < size of `out`. */
enum otf_status otf_random_id(char *out, size_t len);

/* ---- strings ---- */

/* ASCII case-insensitive equality. */
int otf_str_ieq(const char *a, const char *b);
/* strtod/strtoll that require the whole string to be a finite number. */
enum otf_status otf_str_to_double(const char *s, double *out);
/* Writes v as snprintf(buf, cap, "%.*f", decimals, v) does, byte for byte, several times faster
 * for the catalogue writers: the value is scaled and rounded in integers, and the rare values
 * within rounding error of a tie (and everything outside 0 <= decimals <= 9, |v| < 1e15 / 10^
 * decimals, NaN, inf) go to snprintf. Returns the length snprintf would return. */
int otf_fmt_fixed(char *buf, size_t cap, double v, int decimals);
/* Writes v as snprintf(buf, cap, "%.*g", digits, v) does, byte for byte, for the catalogue's
 * parameter columns: the significant digits are rounded in integers like otf_fmt_fixed, with the
 * same fallback to snprintf (near-ties, digits outside 1..9, |v| outside 1e-20..1e20, NaN,
 * inf). Returns the length snprintf would return. */
int otf_fmt_general(char *buf, size_t cap, double v, int digits);
enum otf_status otf_str_to_i64(const char *s, int64_t *out);
/* 1 when `s` is non-empty and only [A-Za-z0-9_.-] (safe as one path component, not "." or ".."). */
int otf_str_is_safe_name(const char *s);

#endif
