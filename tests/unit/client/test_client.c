/* libotfclient: parsing of what the service sends (job documents written by the uws module,
 * job lists, DALI error documents, Retry-After, Prometheus text) and the HTTP behaviour (retries
 * on 503 with Retry-After, error documents, garbage bodies, timeouts, refused connections)
 * against a scripted HTTP server on 127.0.0.1 run by a thread of this test. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "otf/otf_client.h"
#include "otf_test.h"
#include "uws/uws.h"

/* ---- parsing ---- */

static struct otf_job *sample_job(void)
{
    struct otf_job *j = otf_uws_job_new();
    snprintf(j->id, sizeof j->id, "abc123");
    j->phase = OTF_PHASE_EXECUTING;
    j->creation_us = 1700000000123000;
    j->start_us = 1700000001000000;
    j->exec_duration_s = 3600;
    j->destruction_us = 1700600000000000;
    j->patches_done = 7;
    j->patches_total = 40;
    j->attempts = 1;
    otf_uws_job_set_owner(j, "alice");
    otf_uws_job_set_param(j, "model", "tiny", 0);
    otf_uws_job_set_param(j, "precision", "FP32", 0);
    otf_uws_job_set_param(j, "runid", "run-1", 0);
    otf_uws_job_set_stage(j, "inference");
    j->batch = otf_xstrdup("host-w1/r9-3");
    otf_uws_job_set_result(j, "catalog", "application/x-votable+xml", 1234);
    otf_uws_job_set_error(j, "bad pixel \"data\"", 1);
    return j;
}

static void test_parse_job_roundtrip(void **state)
{
    struct otf_job *src = sample_job();
    struct otf_buf b;
    struct otf_client_job *j = NULL;
    struct otf_client_error e = {0};
    (void)state;

    otf_buf_init(&b, 1 << 20);
    assert_int_equal(otf_uws_job_write_json(src, "http://h:1", &b), OTF_OK);
    assert_int_equal(otf_client_parse_job(b.data, b.len, &j, &e), OTF_OK);
    assert_string_equal(j->id, "abc123");
    assert_string_equal(j->href, "http://h:1/jobs/abc123");
    assert_int_equal(j->phase, OTF_CLIENT_PHASE_EXECUTING);
    assert_string_equal(j->owner, "alice");
    assert_string_equal(j->run_id, "run-1");
    assert_true(j->creation_us == src->creation_us);
    assert_true(j->start_us == src->start_us);
    assert_true(j->end_us == 0);
    assert_true(j->destruction_us == src->destruction_us);
    assert_int_equal(j->exec_duration_s, 3600);
    assert_int_equal(j->patches_done, 7);
    assert_int_equal(j->patches_total, 40);
    assert_string_equal(j->stage, "inference");
    assert_string_equal(j->batch, "host-w1/r9-3");
    assert_string_equal(otf_client_job_param(j, "MODEL"), "tiny");
    assert_string_equal(otf_client_job_param(j, "precision"), "FP32");
    assert_null(otf_client_job_param(j, "roi"));
    assert_int_equal(j->n_results, 1);
    assert_string_equal(j->results[0].id, "catalog");
    assert_string_equal(j->results[0].href, "http://h:1/jobs/abc123/results/catalog");
    assert_string_equal(j->results[0].mime, "application/x-votable+xml");
    assert_int_equal(j->results[0].size_bytes, 1234);
    assert_string_equal(j->error_summary, "bad pixel \"data\"");
    assert_int_equal(j->error_is_fatal, 1);
    assert_non_null(j->json);
    otf_client_job_free(j);
    otf_buf_cleanup(&b);
    otf_uws_job_free(src);
}

static void test_parse_job_bad(void **state)
{
    static const char *bad[] = {
        "",
        "<html>oops</html>",
        "[1,2]",
        "{\"phase\":\"QUEUED\"}",        /* no jobId */
        "{\"jobId\":\"a\"}",             /* no phase */
        "{\"jobId\":\"a\",\"phase\":7}", /* phase not a string */
        "{\"jobId\":\"a\",\"phase\":\"QUEUED\",\"creationTime\":\"yesterday\"}",
        "{\"jobId\":\"a\",\"phase\":\"QUEUED\",\"results\":{}}",
        "{\"jobId\":\"a\",\"phase\":\"QUEUED\",\"results\":[{\"href\":\"x\"}]}",
        "{\"jobId\":\"a\",\"phase\":\"QUEUED\",\"jobInfo\":{\"patchesDone\":\"many\"}}",
        "{\"jobId\":\"a\",\"phase\":\"QUEUED\",\"parameters\":[1]}",
        "{\"jobId\":\"a\",\"jobId\":\"b\",\"phase\":\"QUEUED\"}", /* duplicate key */
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct otf_client_job *j = NULL;
        struct otf_client_error e = {0};
        assert_int_equal(otf_client_parse_job(bad[i], strlen(bad[i]), &j, &e), OTF_E_FORMAT);
        assert_null(j);
        assert_int_equal(e.code, OTF_E_FORMAT);
        assert_true(strlen(e.msg) > 0);
    }
}

static void test_parse_job_minimal_and_unknown_phase(void **state)
{
    const char *doc = "{\"jobId\":\"x1\",\"phase\":\"SOMETHING_NEW\",\"errorSummary\":null}";
    struct otf_client_job *j = NULL;
    (void)state;
    assert_int_equal(otf_client_parse_job(doc, strlen(doc), &j, NULL), OTF_OK);
    assert_int_equal(j->phase, OTF_CLIENT_PHASE_UNKNOWN);
    assert_null(j->error_summary);
    assert_int_equal(j->n_params, 0);
    otf_client_job_free(j);
}

static void test_parse_joblist(void **state)
{
    struct otf_job *a = sample_job(), *b = otf_uws_job_new();
    struct otf_job *list[2] = {a, b};
    struct otf_buf buf;
    struct otf_client_job **jobs = NULL;
    size_t n = 0;
    (void)state;

    snprintf(b->id, sizeof b->id, "zz9");
    b->phase = OTF_PHASE_ABORTED;
    b->creation_us = 1700000000000000;
    otf_buf_init(&buf, 1 << 20);
    assert_int_equal(otf_uws_joblist_write_json(list, 2, "http://h:1", &buf), OTF_OK);
    assert_int_equal(otf_client_parse_joblist(buf.data, buf.len, &jobs, &n, NULL), OTF_OK);
    assert_int_equal(n, 2);
    assert_string_equal(jobs[0]->id, "abc123");
    assert_int_equal(jobs[0]->phase, OTF_CLIENT_PHASE_EXECUTING);
    assert_string_equal(jobs[0]->owner, "alice");
    assert_string_equal(jobs[1]->id, "zz9");
    assert_int_equal(jobs[1]->phase, OTF_CLIENT_PHASE_ABORTED);
    assert_null(jobs[1]->owner);
    otf_client_job_array_free(jobs, n);
    jobs = NULL;
    assert_int_equal(otf_client_parse_joblist("{\"jobs\":5}", 10, &jobs, &n, NULL), OTF_E_FORMAT);
    assert_int_equal(otf_client_parse_joblist("{\"jobs\":[{\"jobId\":1}]}", 21, &jobs, &n, NULL),
                     OTF_E_FORMAT);
    assert_null(jobs);
    otf_buf_cleanup(&buf);
    otf_uws_job_free(a);
    otf_uws_job_free(b);
}

static void test_error_docs(void **state)
{
    struct otf_buf b;
    char msg[256];
    const char *doctype = "<?xml version=\"1.0\"?><!DOCTYPE VOTABLE [<!ENTITY x \"boom\">]>"
                          "<VOTABLE><RESOURCE type=\"results\"><INFO name=\"QUERY_STATUS\" "
                          "value=\"ERROR\">&x;</INFO></RESOURCE></VOTABLE>";
    (void)state;

    otf_buf_init(&b, 1 << 16);
    assert_int_equal(otf_uws_error_write_json("no such job: a", 404, &b), OTF_OK);
    assert_int_equal(otf_client_parse_error_doc(b.data, b.len, msg, sizeof msg), 1);
    assert_string_equal(msg, "no such job: a");
    otf_buf_reset(&b);
    assert_int_equal(otf_uws_error_write_votable("MODEL is required <see /models>", &b), OTF_OK);
    assert_int_equal(otf_client_parse_error_doc(b.data, b.len, msg, sizeof msg), 1);
    assert_string_equal(msg, "MODEL is required <see /models>");
    /* multi-line messages come out as one line */
    assert_int_equal(otf_client_parse_error_doc("{\"error\":\"a\\nb\"}", 16, msg, sizeof msg), 1);
    assert_string_equal(msg, "a b");
    assert_int_equal(otf_client_parse_error_doc("<html>502</html>", 16, msg, sizeof msg), 0);
    assert_int_equal(otf_client_parse_error_doc("{\"status\":1}", 12, msg, sizeof msg), 0);
    assert_int_equal(otf_client_parse_error_doc("\x01\x02garbage", 9, msg, sizeof msg), 0);
    assert_int_equal(otf_client_parse_error_doc(doctype, strlen(doctype), msg, sizeof msg), 0);
    otf_buf_cleanup(&b);
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(otf_client_parse_retry_after("5", 0), 5);
    assert_int_equal(otf_client_parse_retry_after(" 0", 0), 0);
    /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
    assert_int_equal(otf_client_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770), 7);
    assert_int_equal(otf_client_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111800), 0);
    assert_int_equal(otf_client_parse_retry_after("soon", 0), -1);
    assert_int_equal(otf_client_parse_retry_after("-3", 0), -1);
    assert_int_equal(otf_client_parse_retry_after("5x", 0), -1);
    assert_int_equal(otf_client_parse_retry_after(NULL, 0), -1);
}

static void test_metrics(void **state)
{
    const char *text = "# HELP otf_jobs Jobs.\n# TYPE otf_jobs gauge\n"
                       "otf_jobs{phase=\"QUEUED\"} 3\n"
                       "otf_queue_depth{model=\"tiny\",precision=\"FP32\"} 2\n"
                       "otf_http_requests_total 17\n"
                       "broken{x=\"1\" 5\n"
                       "notanumber abc\n"
                       "otf_patches_per_second 12.5 1700000000\n";
    struct otf_client_metric *m = NULL;
    size_t n = 0;
    char v[64];
    (void)state;

    assert_int_equal(otf_client_parse_metrics(text, strlen(text), &m, &n), OTF_OK);
    assert_int_equal(n, 4);
    assert_string_equal(m[0].name, "otf_jobs");
    assert_string_equal(m[0].labels, "phase=\"QUEUED\"");
    assert_float_equal(m[0].value, 3, 0);
    assert_string_equal(m[1].name, "otf_queue_depth");
    assert_int_equal(otf_client_metric_label(m[1].labels, "model", v, sizeof v), 1);
    assert_string_equal(v, "tiny");
    assert_int_equal(otf_client_metric_label(m[1].labels, "precision", v, sizeof v), 1);
    assert_string_equal(v, "FP32");
    assert_int_equal(otf_client_metric_label(m[1].labels, "owner", v, sizeof v), 0);
    assert_string_equal(m[2].labels, "");
    assert_float_equal(m[2].value, 17, 0);
    assert_string_equal(m[3].name, "otf_patches_per_second");
    assert_float_equal(m[3].value, 12.5, 1e-12);
    otf_client_metrics_free(m, n);
}

static void test_phases(void **state)
{
    enum otf_client_phase p;
    (void)state;
    assert_int_equal(otf_client_phase_parse("COMPLETED", &p), OTF_OK);
    assert_int_equal(p, OTF_CLIENT_PHASE_COMPLETED);
    assert_int_equal(otf_client_phase_parse("completed", &p), OTF_E_INVAL);
    assert_string_equal(otf_client_phase_name(OTF_CLIENT_PHASE_HELD), "HELD");
    assert_string_equal(otf_client_phase_name((enum otf_client_phase)99), "UNKNOWN");
    assert_true(otf_client_phase_is_final(OTF_CLIENT_PHASE_ABORTED));
    assert_false(otf_client_phase_is_final(OTF_CLIENT_PHASE_HELD));
}

/* ---- a scripted HTTP server ---- */

struct answer {
    const char *head; /* status line and headers, without the blank line; NULL = never answer */
    const char *body;
};

struct server {
    int fd;
    int port;
    pthread_t thread;
    const struct answer *script;
    size_t n_script;
    size_t served;          /* requests answered (or swallowed) */
    char requests[8][1024]; /* first line and headers of the first requests */
};

/* Reads one request (headers, then Content-Length or chunked body) from `c`. */
static int read_request(int c, char *head, size_t n)
{
    char buf[65536];
    size_t len = 0;
    char *end = NULL;
    long body = 0;

    while (!end) {
        ssize_t r = recv(c, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && len >= sizeof buf - 1)
            return -1;
    }
    snprintf(head, n, "%.*s", (int)(end - buf), buf);
    {
        const char *cl = strcasestr(head, "Content-Length:");
        if (cl)
            body = strtol(cl + 15, NULL, 10);
    }
    len -= (size_t)(end + 4 - buf);
    while ((long)len < body) {
        ssize_t r = recv(c, buf, sizeof buf, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
    if (strcasestr(head, "Transfer-Encoding: chunked")) {
        /* Enough for these tests: read until the terminating chunk. */
        while (!strstr(buf, "0\r\n\r\n")) {
            ssize_t r = recv(c, buf, sizeof buf - 1, 0);
            if (r <= 0)
                return -1;
            buf[r] = '\0';
        }
    }
    return 0;
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    for (size_t i = 0; i < s->n_script; i++) {
        char head[1024], out[8192];
        const struct answer *a = &s->script[i];
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        if (read_request(c, head, sizeof head) != 0) {
            close(c);
            continue;
        }
        if (i < 8)
            snprintf(s->requests[i], sizeof s->requests[i], "%s", head);
        __atomic_add_fetch(&s->served, 1, __ATOMIC_SEQ_CST);
        if (!a->head) {
            /* Never answer: hold the connection until the client gives up. */
            struct pollfd p = {c, POLLIN, 0};
            poll(&p, 1, 10000);
            close(c);
            continue;
        }
        snprintf(out, sizeof out, "%s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 a->head, strlen(a->body ? a->body : ""), a->body ? a->body : "");
        if (send(c, out, strlen(out), MSG_NOSIGNAL) < 0)
            perror("send");
        close(c);
    }
    return NULL;
}

static void server_start(struct server *s, const struct answer *script, size_t n)
{
    struct sockaddr_in a = {0};
    socklen_t al = sizeof a;
    int one = 1;

    memset(s, 0, sizeof *s);
    s->script = script;
    s->n_script = n;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 8), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->thread, NULL);
}

static struct otf_client *client_for(const struct server *s, long timeout_ms, int retries)
{
    char url[64];
    struct otf_client_options o = {0};
    struct otf_client *c = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s->port);
    o.url = url;
    o.token = "s3cret";
    o.timeout_ms = timeout_ms;
    o.max_retries = retries;
    o.retry_base_ms = 50;
    o.stall_timeout_s = 3;
    assert_int_equal(otf_client_open(&o, &c, NULL), OTF_OK);
    return c;
}

#define JOB_DOC "{\"jobId\":\"j1\",\"phase\":\"QUEUED\",\"parameters\":{\"model\":\"tiny\"}}"

static void test_http_retry_after(void **state)
{
    static const struct answer script[] = {
        {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json",
         "{\"error\":\"the queue is full\",\"status\":503}"},
        {"HTTP/1.1 200 OK\r\nContent-Type: application/json", JOB_DOC},
    };
    struct server s;
    struct otf_client *c;
    struct otf_client_job *j = NULL;
    struct otf_client_error e = {0};
    int64_t t0;
    (void)state;

    server_start(&s, script, 2);
    c = client_for(&s, 5000, 3);
    t0 = otf_time_mono_us();
    assert_int_equal(otf_client_get_job(c, "j1", &j, &e), OTF_OK);
    /* Retry-After: 1 was honoured rather than the 50 ms backoff. */
    assert_true(otf_time_mono_us() - t0 >= 900000);
    assert_int_equal(s.served, 2);
    assert_string_equal(j->id, "j1");
    assert_non_null(strstr(s.requests[0], "GET /jobs/j1 HTTP/1.1"));
    assert_non_null(strstr(s.requests[0], "Authorization: Bearer s3cret"));
    assert_non_null(strstr(s.requests[0], "Accept: application/json"));
    otf_client_job_free(j);
    otf_client_close(c);
    server_stop(&s);
}

static void test_http_busy_gives_up(void **state)
{
    static const struct answer script[] = {
        {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Type: application/json",
         "{\"error\":\"the queue is full (9 jobs): retry later\",\"status\":503}"},
        {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Type: application/json",
         "{\"error\":\"the queue is full (9 jobs): retry later\",\"status\":503}"},
    };
    struct server s;
    struct otf_client *c;
    struct otf_client_job *j = NULL;
    struct otf_client_error e = {0};
    (void)state;

    server_start(&s, script, 2);
    c = client_for(&s, 5000, 1);
    assert_int_equal(otf_client_get_job(c, "j1", &j, &e), OTF_E_BUSY);
    assert_null(j);
    assert_int_equal(s.served, 2); /* one try plus one retry, no more */
    assert_int_equal(e.http_status, 503);
    assert_non_null(strstr(e.msg, "the queue is full"));
    otf_client_close(c);
    server_stop(&s);
}

static void test_http_errors(void **state)
{
    static const struct answer script[] = {
        {"HTTP/1.1 404 Not Found\r\nContent-Type: application/x-votable+xml",
         "<?xml version=\"1.0\"?><VOTABLE version=\"1.4\"><RESOURCE type=\"results\">"
         "<INFO name=\"QUERY_STATUS\" value=\"ERROR\">no such job: j9</INFO></RESOURCE>"
         "</VOTABLE>"},
        {"HTTP/1.1 200 OK\r\nContent-Type: application/json", "\x89PNG garbage {"},
        {"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html", "<h1>oops</h1>"},
        {"HTTP/1.1 409 Conflict\r\nContent-Type: application/json",
         "{\"error\":\"PHASE=ABORT is not allowed in phase COMPLETED\",\"status\":409}"},
    };
    struct server s;
    struct otf_client *c;
    struct otf_client_job *j = NULL;
    struct otf_client_error e = {0};
    (void)state;

    server_start(&s, script, 4);
    c = client_for(&s, 5000, 2);
    assert_int_equal(otf_client_get_job(c, "j9", &j, &e), OTF_E_NOTFOUND);
    assert_int_equal(e.http_status, 404);
    assert_string_equal(e.msg, "no such job: j9 (HTTP 404)");
    assert_int_equal(otf_client_get_job(c, "j1", &j, &e), OTF_E_FORMAT);
    assert_non_null(strstr(e.msg, "no valid job document"));
    assert_int_equal(otf_client_get_job(c, "j1", &j, &e), OTF_E_BACKEND);
    assert_string_equal(e.msg, "server error (HTTP 500)");
    assert_int_equal(otf_client_abort_job(c, "j1", &e), OTF_E_STATE);
    assert_non_null(strstr(e.msg, "not allowed in phase COMPLETED"));
    assert_non_null(strstr(s.requests[3], "POST /jobs/j1/phase"));
    assert_int_equal(s.served, 4); /* 4xx, 5xx and garbage are not retried */
    assert_null(j);
    /* ids that could leave the job's path are refused before any request */
    assert_int_equal(otf_client_get_job(c, "../x", &j, &e), OTF_E_INVAL);
    otf_client_close(c);
    server_stop(&s);
}

static void test_http_create_and_timeout(void **state)
{
    static const struct answer script[] = {
        {"HTTP/1.1 303 See Other\r\nLocation: http://127.0.0.1:1/jobs/newjob42", ""},
        {NULL, NULL}, /* never answers */
    };
    struct server s;
    struct otf_client *c;
    struct otf_client_error e = {0};
    struct otf_client_job *j = NULL;
    struct otf_client_param p = {"ROI", "0,0,10,10"};
    struct otf_client_submit sub = {0};
    char *id = NULL, path[] = "/tmp/otf-test-client-XXXXXX";
    int fd = mkstemp(path);
    int64_t t0;
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "SIMPLE  =                    T", 30), 30);
    close(fd);
    server_start(&s, script, 2);
    c = client_for(&s, 600, 3);
    sub.image_path = path;
    sub.model = "tiny";
    sub.params = &p;
    sub.n_params = 1;
    sub.run = 1;
    assert_int_equal(otf_client_create_job(c, &sub, &id, &e), OTF_OK);
    assert_string_equal(id, "newjob42");
    assert_non_null(strstr(s.requests[0], "POST /jobs HTTP/1.1"));
    assert_non_null(strstr(s.requests[0], "multipart/form-data"));
    t0 = otf_time_mono_us();
    assert_int_equal(otf_client_get_job(c, "j1", &j, &e), OTF_E_TIMEOUT);
    /* A timeout is not retried: one 600 ms wait, not four. */
    assert_true(otf_time_mono_us() - t0 < 2000000);
    assert_int_equal(s.served, 2);
    free(id);
    unlink(path);
    otf_client_close(c);
    server_stop(&s);
}

/* A creation refused with 503 is sent again whole after Retry-After: the upload is rebuilt,
 * not replayed from a consumed body (which left the second request without its body). */
static void test_http_create_retried_after_503(void **state)
{
    static const struct answer script[] = {
        {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Type: application/json",
         "{\"error\":\"the queue is full (1 jobs): retry later\",\"status\":503}"},
        {"HTTP/1.1 303 See Other\r\nLocation: /jobs/second", ""},
    };
    struct server s;
    struct otf_client *c;
    struct otf_client_error e = {0};
    struct otf_client_submit sub = {0};
    char *id = NULL, path[] = "/tmp/otf-test-client-XXXXXX";
    int fd = mkstemp(path);
    char block[4096];
    (void)state;

    assert_true(fd >= 0);
    memset(block, 'x', sizeof block);
    for (int i = 0; i < 64; i++)
        assert_int_equal(write(fd, block, sizeof block), (ssize_t)sizeof block);
    close(fd);
    server_start(&s, script, 2);
    c = client_for(&s, 2000, 2);
    sub.image_path = path;
    sub.model = "tiny";
    sub.run = 1;
    assert_int_equal(otf_client_create_job(c, &sub, &id, &e), OTF_OK);
    assert_string_equal(id, "second");
    assert_int_equal(s.served, 2);
    assert_non_null(strstr(s.requests[1], "POST /jobs HTTP/1.1"));
    free(id);
    unlink(path);
    otf_client_close(c);
    server_stop(&s);
}

static void test_http_refused(void **state)
{
    struct otf_client_options o = {0};
    struct otf_client *c = NULL;
    struct otf_client_error e = {0};
    struct otf_client_job *j = NULL;
    struct sockaddr_in a = {0};
    socklen_t al = sizeof a;
    char url[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    (void)state;

    /* A port that was free a moment ago: bound, then closed without listening. */
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    o.url = url;
    o.max_retries = 2;
    o.retry_base_ms = 10;
    assert_int_equal(otf_client_open(&o, &c, &e), OTF_OK);
    assert_int_equal(otf_client_get_job(c, "j1", &j, &e), OTF_E_NET);
    assert_int_equal(e.http_status, 0);
    assert_non_null(strstr(e.msg, url));
    otf_client_close(c);

    o.url = "ftp://x";
    assert_int_equal(otf_client_open(&o, &c, &e), OTF_E_INVAL);
    o.url = NULL;
    assert_int_equal(otf_client_open(&o, &c, &e), OTF_E_INVAL);
    o.url = "http://x";
    o.token = "bad\ntoken";
    assert_int_equal(otf_client_open(&o, &c, &e), OTF_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_job_roundtrip),
        cmocka_unit_test(test_parse_job_bad),
        cmocka_unit_test(test_parse_job_minimal_and_unknown_phase),
        cmocka_unit_test(test_parse_joblist),
        cmocka_unit_test(test_error_docs),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_phases),
        cmocka_unit_test(test_http_retry_after),
        cmocka_unit_test(test_http_busy_gives_up),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_http_create_and_timeout),
        cmocka_unit_test(test_http_create_retried_after_503),
        cmocka_unit_test(test_http_refused),
    };
    otf_uws_global_init();
    otf_client_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
