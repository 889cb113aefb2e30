/* libotfclient SAMP: Standard Profile lockfile parsing and hub discovery (SAMP 1.3 §4.3), and
 * the failures of a send without a working hub: no lockfile, a stale one (nothing listening),
 * a hub that accepts the connection but never answers (must time out, never hang). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "otf/otf_client.h"
#include "otf_build_config.h"
#include "otf_test.h"

static enum otf_status parse(const char *text, struct otf_client_samp_hub *h,
                             struct otf_client_error *e)
{
    memset(h, 0, sizeof *h);
    return otf_client_samp_parse_lockfile(text, strlen(text), h, e);
}

static void test_lockfile_ok(void **state)
{
    struct otf_client_samp_hub h;
    struct otf_client_error e = {0};
    (void)state;
    assert_int_equal(parse("# SAMP Standard Profile lockfile written 2024-01-01\n"
                           "samp.secret=0123abc\r\n"
                           "\n"
                           "  samp.hub.xmlrpc.url = http://127.0.0.1:41234/xmlrpc  \n"
                           "samp.profile.version=1.3\n"
                           "hub.impl=astropy=7\n",
                           &h, &e),
                     OTF_OK);
    assert_string_equal(h.secret, "0123abc");
    assert_string_equal(h.xmlrpc_url, "http://127.0.0.1:41234/xmlrpc");
    assert_string_equal(h.profile_version, "1.3");
    /* no trailing newline, no version */
    assert_int_equal(parse("samp.hub.xmlrpc.url=http://h:1/\nsamp.secret=s", &h, &e), OTF_OK);
    assert_string_equal(h.secret, "s");
    assert_string_equal(h.profile_version, "");
}

static void test_lockfile_bad(void **state)
{
    struct otf_client_samp_hub h;
    struct otf_client_error e = {0};
    char big[2048];
    (void)state;
    assert_int_equal(parse("samp.hub.xmlrpc.url=http://h:1/\n", &h, &e), OTF_E_FORMAT);
    assert_non_null(strstr(e.msg, "samp.secret"));
    assert_int_equal(parse("samp.secret=x\n", &h, &e), OTF_E_FORMAT);
    assert_non_null(strstr(e.msg, "samp.hub.xmlrpc.url"));
    assert_int_equal(parse("samp.secret=x\nthis is not a key value line\n", &h, &e), OTF_E_FORMAT);
    assert_non_null(strstr(e.msg, "line 2"));
    assert_int_equal(parse("=x\n", &h, &e), OTF_E_FORMAT);
    assert_int_equal(parse("samp.secret=x\nsamp.hub.xmlrpc.url=ftp://h/\n", &h, &e), OTF_E_FORMAT);
    assert_int_equal(parse("", &h, &e), OTF_E_FORMAT);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "samp.secret=", 12);
    assert_int_equal(parse(big, &h, &e), OTF_E_FORMAT);
    assert_non_null(strstr(e.msg, "too long"));
    assert_int_equal(otf_client_samp_parse_lockfile("samp.secret=a\0b", 15, &h, &e), OTF_E_FORMAT);
}

static void test_lockfile_path(void **state)
{
    char p[256];
    struct otf_client_error e = {0};
    (void)state;
    assert_int_equal(otf_client_samp_lockfile_path(NULL, "/home/ann", p, sizeof p, &e), OTF_OK);
    assert_string_equal(p, "/home/ann/.samp");
    assert_int_equal(otf_client_samp_lockfile_path("", "/h", p, sizeof p, &e), OTF_OK);
    assert_string_equal(p, "/h/.samp");
    assert_int_equal(otf_client_samp_lockfile_path(NULL, NULL, p, sizeof p, &e), OTF_E_NOTFOUND);
    assert_int_equal(
        otf_client_samp_lockfile_path("std-lockurl:file:///tmp/my%20hub.lock", "/h", p, 256, &e),
        OTF_OK);
    assert_string_equal(p, "/tmp/my hub.lock");
    assert_int_equal(
        otf_client_samp_lockfile_path("std-lockurl:file://localhost/a/b", "/h", p, 256, &e),
        OTF_OK);
    assert_string_equal(p, "/a/b");
    assert_int_equal(otf_client_samp_lockfile_path("std-lockurl:file:/c", "/h", p, 256, &e),
                     OTF_OK);
    assert_string_equal(p, "/c");
    assert_int_equal(
        otf_client_samp_lockfile_path("std-lockurl:http://h/lock", "/h", p, sizeof p, &e),
        OTF_E_INVAL);
    assert_int_equal(otf_client_samp_lockfile_path("web-profile", "/h", p, sizeof p, &e),
                     OTF_E_INVAL);
    assert_int_equal(otf_client_samp_lockfile_path("std-lockurl:file:///a%zz", "/h", p, 256, &e),
                     OTF_E_INVAL);
    assert_int_equal(otf_client_samp_lockfile_path("std-lockurl:file:///abcdef", "/h", p, 4, &e),
                     OTF_E_LIMIT);
}

/* Writes a lockfile in a temp dir and points SAMP_HUB at it. */
static char *write_lockfile(const char *text)
{
    char tmpl[] = "/tmp/otf-samp-XXXXXX";
    char *path, *env;
    FILE *f;
    assert_non_null(mkdtemp(tmpl));
    path = otf_xasprintf("%s/lock", tmpl);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    env = otf_xasprintf("std-lockurl:file://%s", path);
    setenv("SAMP_HUB", env, 1);
    free(env);
    return path;
}

static void remove_lockfile(char *path)
{
    char *slash = strrchr(path, '/');
    unlink(path);
    *slash = '\0';
    rmdir(path);
    free(path);
    unsetenv("SAMP_HUB");
}

static void test_find_hub(void **state)
{
    struct otf_client_samp_hub h;
    struct otf_client_error e = {0};
    char *path;
    (void)state;
    setenv("SAMP_HUB", "std-lockurl:file:///nonexistent/otf-samp-lock", 1);
    assert_int_equal(otf_client_samp_find_hub(&h, &e), OTF_E_NOTFOUND);
    assert_non_null(strstr(e.msg, "no SAMP hub running"));
    path = write_lockfile("samp.secret=abc\nsamp.hub.xmlrpc.url=http://127.0.0.1:9/\n");
    assert_int_equal(otf_client_samp_find_hub(&h, &e), OTF_OK);
    assert_string_equal(h.secret, "abc");
    assert_string_equal(h.lockfile, path);
    remove_lockfile(path);
    path = write_lockfile("garbage\n");
    assert_int_equal(otf_client_samp_find_hub(&h, &e), OTF_E_FORMAT);
    assert_non_null(strstr(e.msg, "bad SAMP lockfile"));
    remove_lockfile(path);
}

/* A TCP port on 127.0.0.1 that listens (so connections complete) but never answers. */
static int silent_listener(int *port)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_send_without_hub(void **state)
{
    struct otf_client_samp_send s = {.table_url = "http://127.0.0.1:1/t.vot", .timeout_ms = 500};
    struct otf_client_error e = {0};
    char *path, *text;
    int fd, port;
    int64_t t0;
    enum otf_status st;
    (void)state;

    assert_int_equal(otf_client_samp_notify(&(struct otf_client_samp_send){0}, NULL, NULL, &e),
                     OTF_E_INVAL);
    setenv("SAMP_HUB", "std-lockurl:file:///nonexistent/otf-samp-lock", 1);
    st = otf_client_samp_notify(&s, NULL, NULL, &e);
    if (!otf_client_samp_available()) {
        assert_int_equal(st, OTF_E_STATE);
        assert_non_null(strstr(e.msg, "without SAMP support"));
        unsetenv("SAMP_HUB");
        return;
    }
    assert_int_equal(st, OTF_E_NOTFOUND);
    assert_non_null(strstr(e.msg, "no SAMP hub running"));

    /* stale lockfile: nothing listens on the port any more */
    fd = silent_listener(&port);
    close(fd);
    text = otf_xasprintf("samp.secret=x\nsamp.hub.xmlrpc.url=http://127.0.0.1:%d/\n", port);
    path = write_lockfile(text);
    free(text);
    assert_int_equal(otf_client_samp_notify(&s, NULL, NULL, &e), OTF_E_NET);
    assert_non_null(strstr(e.msg, "no SAMP hub answers"));
    remove_lockfile(path);

    /* a hub that accepts but never answers: the call times out */
    fd = silent_listener(&port);
    text = otf_xasprintf("samp.secret=x\nsamp.hub.xmlrpc.url=http://127.0.0.1:%d/\n", port);
    path = write_lockfile(text);
    free(text);
    t0 = otf_time_mono_us();
    assert_int_equal(otf_client_samp_notify(&s, NULL, NULL, &e), OTF_E_TIMEOUT);
    /* libxmlrpc-c's curl transport looks at its clock every few seconds */
    assert_true(otf_time_mono_us() - t0 < 5 * 1000000);
    assert_non_null(strstr(e.msg, "did not answer"));
    remove_lockfile(path);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lockfile_ok),      cmocka_unit_test(test_lockfile_bad),
        cmocka_unit_test(test_lockfile_path),    cmocka_unit_test(test_find_hub),
        cmocka_unit_test(test_send_without_hub),
    };
    if (otf_client_global_init() != OTF_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
