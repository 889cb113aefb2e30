/* Unit tests for core: status, buffers, time, files, SHA-256, config. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/core_config.h"
#include "otf_test.h"

static void test_status_str(void **state)
{
    (void)state;
    for (int i = 0; i < OTF_E__COUNT; i++)
        assert_string_not_equal(otf_status_str((enum otf_status)i), "unknown status");
    assert_string_equal(otf_status_str((enum otf_status)999), "unknown status");
}

static void test_errbuf(void **state)
{
    struct otf_errbuf eb = {0};
    (void)state;
    assert_int_equal(OTF_FAIL(&eb, OTF_E_FORMAT, "bad %d", 42), OTF_E_FORMAT);
    assert_string_equal(eb.msg, "bad 42");
    assert_int_equal(eb.code, OTF_E_FORMAT);
    otf_errbuf_prefix(&eb, "file %s", "x.fits");
    assert_string_equal(eb.msg, "file x.fits: bad 42");
    assert_int_equal(OTF_FAIL(NULL, OTF_E_IO, "no buffer"), OTF_E_IO);
}

static void test_buf_cap(void **state)
{
    struct otf_buf b;
    (void)state;
    otf_buf_init(&b, 10);
    assert_int_equal(otf_buf_append(&b, "hello", 5), OTF_OK);
    assert_int_equal(otf_buf_printf(&b, "%d", 1234), OTF_OK);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(otf_buf_append(&b, "xy", 2), OTF_E_LIMIT);
    assert_int_equal(b.len, 9);
    assert_int_equal(otf_buf_append(&b, "z", 1), OTF_OK);
    otf_buf_cleanup(&b);
}

static void test_time_roundtrip(void **state)
{
    char s[OTF_TIME_ISO_LEN];
    int64_t t;
    (void)state;
    otf_time_format_iso(1740830400123000LL, s);
    assert_string_equal(s, "2025-03-01T12:00:00.123Z");
    assert_int_equal(otf_time_parse_iso(s, &t), OTF_OK);
    assert_int_equal(t, 1740830400123000LL);
    assert_int_equal(otf_time_parse_iso("2025-03-01T12:00:00", &t), OTF_OK);
    assert_int_equal(t, 1740830400000000LL);
    assert_int_equal(otf_time_parse_iso("2025-03-01T13:00:00+01:00", &t), OTF_OK);
    assert_int_equal(t, 1740830400000000LL);
    assert_int_equal(otf_time_parse_iso("2025-03-01", &t), OTF_OK);
    assert_int_equal(otf_time_parse_iso("2025-13-01", &t), OTF_E_INVAL);
    assert_int_equal(otf_time_parse_iso("yesterday", &t), OTF_E_INVAL);
    assert_int_equal(otf_time_parse_iso("2025-03-01T12:00:00Zjunk", &t), OTF_E_INVAL);
}

static void test_sha256(void **state)
{
    struct otf_sha256 s;
    uint8_t d[32];
    char hex[65];
    const char *abc = "abc";
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    (void)state;
    otf_sha256_init(&s);
    otf_sha256_update(&s, abc, 3);
    otf_sha256_final(&s, d);
    otf_sha256_hex(d, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    otf_sha256_init(&s);
    for (size_t i = 0; i < strlen(two); i++) /* byte by byte crosses the block boundary */
        otf_sha256_update(&s, two + i, 1);
    otf_sha256_final(&s, d);
    otf_sha256_hex(d, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* Every length 0..199 (each tail and padding case) and 1 MiB + 17 bytes fed in uneven pieces,
 * through whichever compression function this CPU gets (ctest runs this test again with
 * OTF_SHA256_PORTABLE=1): the digest of the digests was computed with Python's hashlib. */
static void test_sha256_lengths(void **state)
{
    const size_t big = 1048576 + 17;
    uint8_t *data = malloc(big), d[32];
    struct otf_sha256 outer, s;
    char hex[65];
    (void)state;
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)((i * 131 + 7) & 255);
    otf_sha256_init(&outer);
    for (size_t n = 0; n <= 200; n++) {
        size_t len = n < 200 ? n : big, off = 0, piece = 1;
        otf_sha256_init(&s);
        while (off < len) {
            size_t k = len - off < piece ? len - off : piece;
            otf_sha256_update(&s, data + off, k);
            off += k;
            piece = piece * 3 + 1; /* 1, 4, 13, 40, ... bytes: every alignment */
        }
        otf_sha256_final(&s, d);
        otf_sha256_update(&outer, d, sizeof d);
    }
    otf_sha256_final(&outer, d);
    otf_sha256_hex(d, hex);
    print_message("sha256 implementation: %s\n", otf_sha256_impl());
    assert_string_equal(hex, "c9eda437d123d92233a35e1433988c4e570e6b9861a23f0bea84a94d627ebddd");
    free(data);
}

/* otf_fmt_fixed against snprintf on a million values: every magnitude from 1e-12 to 1e15,
 * both signs, exact ties (0.125, 2.5), values next to ties, integers, zero and -0, NaN, inf. */
static void test_fmt_fixed(void **state)
{
    static const double special[] = {0.0,   -0.0,  0.125, 2.5,      -2.5,   0.5,  1.5,  1e15,
                                     -1e14, 1e-12, 0.05,  0.000005, 359.99, 90.0, -90.0};
    uint64_t x = 88172645463325252ULL;
    char a[64], b[64];
    (void)state;
    for (int d = 0; d <= 11; d++) {
        for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
            double v = special[i];
            int la = otf_fmt_fixed(a, sizeof a, v, d), lb = snprintf(b, sizeof b, "%.*f", d, v);
            assert_int_equal(la, lb);
            assert_string_equal(a, b);
            v = nextafter(v, INFINITY);
            otf_fmt_fixed(a, sizeof a, v, d);
            snprintf(b, sizeof b, "%.*f", d, v);
            assert_string_equal(a, b);
        }
        otf_fmt_fixed(a, sizeof a, NAN, d);
        snprintf(b, sizeof b, "%.*f", d, NAN);
        assert_string_equal(a, b);
    }
    for (int i = 0; i < 1000000; i++) {
        double m, v;
        int d;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;    /* xorshift64 */
        m = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
        d = (int)(x % 10);
        v = m * pow(10.0, (double)((int)(x >> 4 & 31) - 12)) * ((x >> 9 & 1) ? -1 : 1);
        if (x >> 10 & 1) /* a tie or its neighbour at this many decimals */
            v = (floor(v * pow(10.0, d)) + 0.5) / pow(10.0, d);
        otf_fmt_fixed(a, sizeof a, v, d);
        snprintf(b, sizeof b, "%.*f", d, v);
        if (strcmp(a, b) != 0)
            fail_msg("%.17g with %d decimals: %s, snprintf %s", v, d, a, b);
    }
    /* truncation like snprintf */
    assert_int_equal(otf_fmt_fixed(a, 4, 123.456, 3), 7);
    assert_string_equal(a, "123");
}

/* otf_fmt_general against snprintf "%.*g": magnitudes 1e-24 to 1e24 (both sides of the fixed /
 * exponent switch and of the fast range), values that round up to the next power of ten,
 * exact ties of the last digit and their neighbours, integers, zero, -0, NaN, inf. */
static void test_fmt_general(void **state)
{
    static const double special[] = {0.0,     -0.0,        1.0,  -1.0,  0.0001,  0.00001,  999999.5,
                                     9999995, 99999.95,    1e-5, 1e-20, 1e20,    123456.5, 0.5,
                                     2.5,     6.18696e-07, 1e21, 1e-21, 89.99995};
    uint64_t x = 88172645463325252ULL;
    char a[64], b[64];
    (void)state;
    for (int d = 0; d <= 11; d++) {
        for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
            double v = special[i];
            for (int s = 0; s < 3; s++) {
                int la = otf_fmt_general(a, sizeof a, v, d),
                    lb = snprintf(b, sizeof b, "%.*g", d, v);
                if (la != lb || strcmp(a, b) != 0)
                    fail_msg("%.17g with %d digits: %s, snprintf %s", v, d, a, b);
                v = s == 0 ? nextafter(v, INFINITY) : nextafter(nextafter(v, 0), 0);
            }
        }
        otf_fmt_general(a, sizeof a, NAN, d);
        snprintf(b, sizeof b, "%.*g", d, NAN);
        assert_string_equal(a, b);
        otf_fmt_general(a, sizeof a, -INFINITY, d);
        snprintf(b, sizeof b, "%.*g", d, -INFINITY);
        assert_string_equal(a, b);
    }
    for (int i = 0; i < 1000000; i++) {
        double m, v, scale;
        int d, e;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;    /* xorshift64 */
        m = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
        d = 1 + (int)(x % 9);
        e = (int)(x >> 4 & 63) - 30;
        v = m * pow(10.0, (double)e) * ((x >> 9 & 1) ? -1 : 1);
        if (x >> 10 & 1 && v != 0) { /* a tie of the last significant digit, or next to one */
            int ex = (int)floor(log10(fabs(v)));
            scale = pow(10.0, (double)(d - 1 - ex));
            v = (floor(v * scale) + 0.5) / scale;
            if (x >> 12 & 1)
                v = nextafter(v, (x >> 13 & 1) ? INFINITY : -INFINITY);
        }
        otf_fmt_general(a, sizeof a, v, d);
        snprintf(b, sizeof b, "%.*g", d, v);
        if (strcmp(a, b) != 0)
            fail_msg("%.17g with %d digits: %s, snprintf %s", v, d, a, b);
    }
    /* truncation like snprintf */
    assert_int_equal(otf_fmt_general(a, 4, -1.23456e-7, 6), 12);
    assert_string_equal(a, "-1.");
}

static void test_fs_atomic(void **state)
{
    char dir[] = "/tmp/otf_core_XXXXXX";
    char path[512], sub[256];
    char *data = NULL;
    size_t len;
    struct otf_errbuf eb;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/a/b/c", dir);
    assert_int_equal(otf_fs_mkdirs(sub, 0, &eb), OTF_OK);
    snprintf(path, sizeof path, "%s/file", sub);
    assert_int_equal(otf_fs_write_atomic(path, "one", 3, &eb), OTF_OK);
    assert_int_equal(otf_fs_write_atomic(path, "two!", 4, &eb), OTF_OK);
    assert_int_equal(otf_fs_read_file(path, 100, &data, &len, &eb), OTF_OK);
    assert_int_equal(len, 4);
    assert_string_equal(data, "two!");
    free(data);
    assert_int_equal(otf_fs_read_file(path, 2, &data, &len, &eb), OTF_E_LIMIT);
    /* A FIFO is written in place, never replaced by a regular file. */
    {
        char fifo[600];
        struct stat st;
        char buf[8] = {0};
        int rd;
        snprintf(fifo, sizeof fifo, "%s/fifo", dir);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        rd = open(fifo, O_RDWR | O_NONBLOCK);
        assert_true(rd >= 0);
        assert_int_equal(otf_fs_write_atomic(fifo, "abc", 3, &eb), OTF_OK);
        assert_int_equal(read(rd, buf, sizeof buf), 3);
        assert_string_equal(buf, "abc");
        assert_int_equal(stat(fifo, &st), 0);
        assert_true(S_ISFIFO(st.st_mode));
        close(rd);
    }
    assert_int_equal(otf_fs_remove_tree(dir, &eb), OTF_OK);
    assert_int_not_equal(access(dir, F_OK), 0);
}

static void test_strings(void **state)
{
    double d;
    int64_t i;
    char id[17];
    (void)state;
    assert_true(otf_str_ieq("PHASE", "phase"));
    assert_false(otf_str_ieq("PHASE", "phases"));
    assert_int_equal(otf_str_to_double(" 1.5e3 ", &d), OTF_OK);
    assert_float_equal(d, 1500.0, 0);
    assert_int_equal(otf_str_to_double("1.5x", &d), OTF_E_INVAL);
    assert_int_equal(otf_str_to_double("nan", &d), OTF_E_INVAL);
    assert_int_equal(otf_str_to_double("", &d), OTF_E_INVAL);
    assert_int_equal(otf_str_to_i64("-12", &i), OTF_OK);
    assert_int_equal(i, -12);
    assert_int_equal(otf_str_to_i64("99999999999999999999", &i), OTF_E_INVAL);
    assert_true(otf_str_is_safe_name("demo_v1.2"));
    assert_false(otf_str_is_safe_name(".."));
    assert_false(otf_str_is_safe_name("a/b"));
    assert_int_equal(otf_random_id(id, 16), OTF_OK);
    assert_int_equal(strlen(id), 16);
}

static void test_config(void **state)
{
    struct otf_config c;
    struct otf_errbuf eb;
    char ini[] = "/tmp/otf_cfg_XXXXXX";
    int fd = mkstemp(ini);
    const char *text = "workers = 3\n[batch]\nmax_jobs = 4\n[http]\nupload_max_bytes = 2M\n";
    char *argv[] = {"otfd", "--config", ini, "--batch.max-jobs=6", "--listen", "127.0.0.1:9", NULL};
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    otf_config_defaults(&c);
    assert_int_equal(c.sched.max_jobs, 8);
    setenv("OTF_BATCH_MAX_WAIT_MS", "77", 1);
    assert_int_equal(otf_config_load(&c, 6, argv, &eb), OTF_OK);
    unsetenv("OTF_BATCH_MAX_WAIT_MS");
    assert_int_equal(c.workers, 3);
    assert_int_equal(c.sched.max_jobs, 6); /* flag beats file */
    assert_int_equal(c.sched.max_wait_ms, 77);
    assert_int_equal(c.http.upload_max_bytes, 2 * 1024 * 1024);
    assert_string_equal(c.http.listen, "127.0.0.1:9");
    assert_int_equal(otf_config_set(&c, "batch.max_jobs", "0", &eb), OTF_E_INVAL);
    assert_int_equal(otf_config_set(&c, "nope", "1", &eb), OTF_E_INVAL);
    assert_int_equal(otf_config_set(&c, "workers", "two", &eb), OTF_E_INVAL);
    otf_config_cleanup(&c);
    unlink(ini);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_str), cmocka_unit_test(test_errbuf),
        cmocka_unit_test(test_buf_cap),    cmocka_unit_test(test_time_roundtrip),
        cmocka_unit_test(test_sha256),     cmocka_unit_test(test_sha256_lengths),
        cmocka_unit_test(test_fmt_fixed),  cmocka_unit_test(test_fmt_general),
        cmocka_unit_test(test_fs_atomic),  cmocka_unit_test(test_strings),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
