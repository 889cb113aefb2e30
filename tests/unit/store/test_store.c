/* store: the contract suite, written against store.h only and run once per store target (a
 * table of URL makers: each test gets a fresh, empty store), plus SQLite-specific checks (URLs,
 * foreign and corrupt files, migrations, lock waits). `test_store --rate N` times N inserts. */
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "otf_test.h"
#include "store/store.h"

/* ---- targets ---- */

/* A store implementation under test: `fresh` writes the URL of a new, empty store. A
 * PostgreSQL target will create a fresh schema per call; it joins this table when it is built. */
struct target {
    const char *name;
    void (*fresh)(char *url, size_t n);
};

static char tmp_dir[256];
static unsigned n_files;

static void sqlite_fresh(char *url, size_t n)
{
    snprintf(url, n, "sqlite:%s/t%u.db", tmp_dir, n_files++);
}

static const struct target targets[] = {
    {"sqlite", sqlite_fresh},
};

static const struct target *cur;

struct fx {
    char url[512];
    struct otf_store *st;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct otf_errbuf eb = {0};

    assert_non_null(f);
    cur->fresh(f->url, sizeof f->url);
    if (otf_store_open(f->url, &f->st, &eb) != OTF_OK) {
        fprintf(stderr, "open %s: %s\n", f->url, eb.msg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    otf_store_close(f->st);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static struct otf_job *mk(const char *id, const char *owner, enum otf_phase phase,
                          int64_t creation_us, const char *model, const char *precision)
{
    struct otf_job *j = otf_uws_job_new();
    snprintf(j->id, sizeof j->id, "%s", id);
    j->owner = owner ? otf_xstrdup(owner) : NULL;
    j->phase = phase;
    j->creation_us = creation_us;
    if (model)
        otf_uws_job_set_param(j, "model", model, 0);
    if (precision)
        otf_uws_job_set_param(j, "precision", precision, 0);
    return j;
}

static void put(struct otf_store *st, struct otf_job *j)
{
    struct otf_errbuf eb = {0};
    enum otf_status rc = otf_store_insert_job(st, j, &eb);
    if (rc != OTF_OK)
        fail_msg("insert %s: %s", j->id, eb.msg);
    otf_uws_job_free(j);
}

static struct otf_job *get(struct otf_store *st, const char *id)
{
    struct otf_errbuf eb = {0};
    struct otf_job *j = NULL;
    if (otf_store_get_job(st, id, &j, &eb) != OTF_OK)
        fail_msg("get %s: %s", id, eb.msg);
    return j;
}

static enum otf_phase phase_of(struct otf_store *st, const char *id)
{
    struct otf_job *j = get(st, id);
    enum otf_phase p = j->phase;
    otf_uws_job_free(j);
    return p;
}

static int64_t seq_of(struct otf_store *st)
{
    int64_t seq = -1;
    assert_int_equal(otf_store_change_seq(st, &seq, NULL), OTF_OK);
    return seq;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Ids of a job list joined by spaces, for compact assertions. */
static void ids_of(struct otf_job **jobs, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? " " : "", jobs[i]->id);
}

static void list_ids(struct otf_store *st, const struct otf_store_filter *flt, char *out,
                     size_t cap)
{
    struct otf_errbuf eb = {0};
    struct otf_job **jobs = NULL;
    size_t n = 99;
    if (otf_store_list_jobs(st, flt, &jobs, &n, &eb) != OTF_OK)
        fail_msg("list: %s", eb.msg);
    assert_non_null(jobs);
    ids_of(jobs, n, out, cap);
    otf_uws_job_array_free(jobs, n);
}

static void claim_ids(struct otf_store *st, const char *worker, const char *model,
                      const char *precision, int max, char *out, size_t cap)
{
    struct otf_errbuf eb = {0};
    struct otf_job **jobs = NULL;
    size_t n = 99;
    if (otf_store_claim_jobs(st, worker, model, precision, max, 60000, &jobs, &n, &eb) != OTF_OK)
        fail_msg("claim: %s", eb.msg);
    assert_non_null(jobs);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(jobs[i]->phase, OTF_PHASE_EXECUTING);
        assert_true(jobs[i]->start_us > 0);
    }
    ids_of(jobs, n, out, cap);
    otf_uws_job_array_free(jobs, n);
}

#define QUEUED OTF_PHASE_QUEUED
#define BIT    OTF_PHASE_BIT

/* ---- contract: records ---- */

static void t_insert_get(void **state)
{
    struct fx *f = *state;
    struct otf_job *j = mk("abc123", "alice", OTF_PHASE_PENDING, 1700000000123456, "demo", NULL);
    struct otf_job *g;

    j->quote_us = 1700000000999000;
    j->exec_duration_s = 600;
    j->destruction_us = 1700600000000000;
    j->error_summary = otf_xstrdup("an earlier \"error\" \xc3\xa9");
    j->error_is_fatal = 1;
    j->patches_done = 3;
    j->patches_total = 12;
    j->stage = otf_xstrdup("reading");
    j->attempts = 2;
    j->upload_bytes = 123456789012;
    otf_uws_job_set_param(j, "RUNID", "run-7", 0);
    otf_uws_job_set_param(j, "image", "http://h/jobs/abc123/image.fits", 1);
    otf_uws_job_set_param(j, "ra", "10.5", 0);
    otf_uws_job_set_result(j, "catalog", "application/x-votable+xml", 2048);
    otf_uws_job_set_result(j, "preview", "image/png", 77);
    put(f->st, j);

    g = get(f->st, "abc123");
    assert_string_equal(g->id, "abc123");
    assert_string_equal(g->owner, "alice");
    assert_string_equal(g->run_id, "run-7");
    assert_int_equal(g->phase, OTF_PHASE_PENDING);
    assert_int_equal(g->creation_us, 1700000000123456);
    assert_int_equal(g->start_us, 0);
    assert_int_equal(g->end_us, 0);
    assert_int_equal(g->quote_us, 1700000000999000);
    assert_int_equal(g->exec_duration_s, 600);
    assert_int_equal(g->destruction_us, 1700600000000000);
    assert_string_equal(g->error_summary, "an earlier \"error\" \xc3\xa9");
    assert_int_equal(g->error_is_fatal, 1);
    assert_int_equal(g->patches_done, 3);
    assert_int_equal(g->patches_total, 12);
    assert_string_equal(g->stage, "reading");
    assert_int_equal(g->attempts, 2);
    assert_int_equal(g->upload_bytes, 123456789012);
    assert_int_equal(g->n_params, 4);
    assert_string_equal(g->params[0].name, "model");
    assert_string_equal(g->params[0].value, "demo");
    assert_string_equal(g->params[1].name, "runid");
    assert_string_equal(g->params[2].name, "image");
    assert_int_equal(g->params[2].by_reference, 1);
    assert_string_equal(g->params[2].value, "http://h/jobs/abc123/image.fits");
    assert_int_equal(g->params[3].by_reference, 0);
    assert_string_equal(g->params[3].value, "10.5");
    assert_int_equal(g->n_results, 2);
    assert_string_equal(g->results[0].id, "catalog");
    assert_string_equal(g->results[0].mime, "application/x-votable+xml");
    assert_int_equal(g->results[0].size_bytes, 2048);
    assert_string_equal(g->results[1].id, "preview");
    otf_uws_job_free(g);

    /* NULL strings stay NULL; creation 0 means now. */
    j = mk("anon", NULL, OTF_PHASE_PENDING, 0, NULL, NULL);
    put(f->st, j);
    g = get(f->st, "anon");
    assert_null(g->owner);
    assert_null(g->run_id);
    assert_null(g->error_summary);
    assert_null(g->stage);
    assert_int_equal(g->n_params, 0);
    assert_int_equal(g->n_results, 0);
    assert_true(g->creation_us > 1600000000000000);
    otf_uws_job_free(g);
}

static void t_insert_duplicate(void **state)
{
    struct fx *f = *state;
    struct otf_errbuf eb = {0};
    struct otf_job *j;

    put(f->st, mk("dup", "alice", OTF_PHASE_PENDING, 1000, "demo", NULL));
    j = mk("dup", "bob", OTF_PHASE_QUEUED, 2000, "other", NULL);
    assert_int_equal(otf_store_insert_job(f->st, j, &eb), OTF_E_STATE);
    assert_non_null(strstr(eb.msg, "dup"));
    otf_uws_job_free(j);
    j = get(f->st, "dup");
    assert_string_equal(j->owner, "alice");
    assert_int_equal(j->creation_us, 1000);
    otf_uws_job_free(j);

    j = mk("", NULL, OTF_PHASE_PENDING, 1, NULL, NULL);
    assert_int_equal(otf_store_insert_job(f->st, j, NULL), OTF_E_INVAL);
    otf_uws_job_free(j);
}

static void t_get_delete(void **state)
{
    struct fx *f = *state;
    struct otf_errbuf eb = {0};
    struct otf_job *j = NULL;

    assert_int_equal(otf_store_get_job(f->st, "nope", &j, &eb), OTF_E_NOTFOUND);
    assert_null(j);
    assert_int_equal(otf_store_delete_job(f->st, "nope", NULL), OTF_E_NOTFOUND);

    j = mk("d1", "alice", OTF_PHASE_COMPLETED, 10, "demo", "FP16");
    otf_uws_job_set_result(j, "catalog", "application/x-votable+xml", 5);
    put(f->st, j);
    assert_int_equal(otf_store_delete_job(f->st, "d1", &eb), OTF_OK);
    j = NULL;
    assert_int_equal(otf_store_get_job(f->st, "d1", &j, NULL), OTF_E_NOTFOUND);
    assert_int_equal(otf_store_delete_job(f->st, "d1", NULL), OTF_E_NOTFOUND);
    /* The parameters and results went with the job: the id can be reused cleanly. */
    put(f->st, mk("d1", "bob", OTF_PHASE_PENDING, 20, NULL, NULL));
    j = get(f->st, "d1");
    assert_int_equal(j->n_params, 0);
    assert_int_equal(j->n_results, 0);
    otf_uws_job_free(j);
}

/* ---- contract: job list and counts ---- */

static void fill_list(struct otf_store *st)
{
    put(st, mk("j1", "alice", OTF_PHASE_PENDING, 1000, "demo", NULL));
    put(st, mk("j2", "bob", OTF_PHASE_QUEUED, 2000, "demo", NULL));
    put(st, mk("j3", "alice", OTF_PHASE_COMPLETED, 3000, "demo", NULL));
    put(st, mk("j4", "alice", OTF_PHASE_ARCHIVED, 4000, "demo", NULL));
    put(st, mk("j5", "alice", OTF_PHASE_QUEUED, 5000, "demo", NULL));
    put(st, mk("j6", "bob", OTF_PHASE_ERROR, 6000, "demo", NULL));
    put(st, mk("j7", "alice", OTF_PHASE_ERROR, 7000, "demo", NULL));
}

static void t_list_filters(void **state)
{
    struct fx *f = *state;
    char s[256];

    fill_list(f->st);
    list_ids(f->st, NULL, s, sizeof s);
    assert_string_equal(s, "j1 j2 j3 j5 j6 j7"); /* no ARCHIVED without a PHASE filter */
    list_ids(f->st, &(struct otf_store_filter){.owner = "alice"}, s, sizeof s);
    assert_string_equal(s, "j1 j3 j5 j7");
    list_ids(f->st, &(struct otf_store_filter){.owner = "carol"}, s, sizeof s);
    assert_string_equal(s, "");
    /* PHASE=QUEUED&PHASE=ERROR */
    list_ids(f->st, &(struct otf_store_filter){.phase_mask = BIT(QUEUED) | BIT(OTF_PHASE_ERROR)}, s,
             sizeof s);
    assert_string_equal(s, "j2 j5 j6 j7");
    list_ids(f->st,
             &(struct otf_store_filter){.owner = "alice",
                                        .phase_mask = BIT(QUEUED) | BIT(OTF_PHASE_ERROR)},
             s, sizeof s);
    assert_string_equal(s, "j5 j7");
    list_ids(f->st, &(struct otf_store_filter){.phase_mask = BIT(OTF_PHASE_ARCHIVED)}, s, sizeof s);
    assert_string_equal(s, "j4");
    /* AFTER is strict */
    list_ids(f->st, &(struct otf_store_filter){.after_us = 3000}, s, sizeof s);
    assert_string_equal(s, "j5 j6 j7");
    /* LAST: the n most recent, newest first */
    list_ids(f->st, &(struct otf_store_filter){.last = 2}, s, sizeof s);
    assert_string_equal(s, "j7 j6");
    list_ids(f->st, &(struct otf_store_filter){.owner = "alice", .last = 3}, s, sizeof s);
    assert_string_equal(s, "j7 j5 j3");
    /* filters combine with AND */
    list_ids(f->st,
             &(struct otf_store_filter){.owner = "alice",
                                        .after_us = 1000,
                                        .last = 10,
                                        .phase_mask = BIT(OTF_PHASE_COMPLETED) | BIT(QUEUED)},
             s, sizeof s);
    assert_string_equal(s, "j5 j3");
    /* limit is a hard cap, also under LAST */
    list_ids(f->st, &(struct otf_store_filter){.limit = 2}, s, sizeof s);
    assert_string_equal(s, "j1 j2");
    list_ids(f->st, &(struct otf_store_filter){.last = 5, .limit = 1}, s, sizeof s);
    assert_string_equal(s, "j7");
    assert_int_equal(otf_store_list_jobs(f->st, &(struct otf_store_filter){.last = -1},
                                         &(struct otf_job **){NULL}, &(size_t){0}, NULL),
                     OTF_E_INVAL);
}

static void t_list_full_jobs(void **state)
{
    struct fx *f = *state;
    struct otf_job **jobs = NULL;
    struct otf_job *j = mk("p1", "alice", OTF_PHASE_COMPLETED, 10, "demo", "BF16");
    size_t n = 0;

    otf_uws_job_set_result(j, "catalog", "application/x-votable+xml", 99);
    put(f->st, j);
    assert_int_equal(otf_store_list_jobs(f->st, NULL, &jobs, &n, NULL), OTF_OK);
    assert_int_equal(n, 1);
    assert_string_equal(otf_uws_job_get_param(jobs[0], "precision"), "BF16");
    assert_int_equal(jobs[0]->n_results, 1);
    assert_int_equal(jobs[0]->results[0].size_bytes, 99);
    otf_uws_job_array_free(jobs, n);
}

static void t_count(void **state)
{
    struct fx *f = *state;
    int64_t n = -1, bytes = -1;
    struct otf_job *j;

    fill_list(f->st);
    j = mk("big", "alice", OTF_PHASE_PENDING, 8000, NULL, NULL);
    j->upload_bytes = 1000;
    put(f->st, j);
    j = mk("big2", "alice", OTF_PHASE_QUEUED, 9000, NULL, NULL);
    j->upload_bytes = 234;
    put(f->st, j);
    j = mk("big3", "bob", OTF_PHASE_ARCHIVED, 9100, NULL, NULL);
    j->upload_bytes = 5;
    put(f->st, j);

    assert_int_equal(otf_store_count_jobs(f->st, "alice", 0, &n, &bytes, NULL), OTF_OK);
    assert_int_equal(n, 6);
    assert_int_equal(bytes, 1234);
    assert_int_equal(otf_store_count_jobs(f->st, NULL, 0, &n, NULL, NULL), OTF_OK);
    assert_int_equal(n, 8);
    assert_int_equal(otf_store_count_jobs(f->st, NULL, BIT(QUEUED), &n, &bytes, NULL), OTF_OK);
    assert_int_equal(n, 3);
    assert_int_equal(bytes, 234);
    assert_int_equal(
        otf_store_count_jobs(f->st, "bob", BIT(OTF_PHASE_ARCHIVED), NULL, &bytes, NULL), OTF_OK);
    assert_int_equal(bytes, 5);
    assert_int_equal(otf_store_count_jobs(f->st, "nobody", 0, &n, &bytes, NULL), OTF_OK);
    assert_int_equal(n, 0);
    assert_int_equal(bytes, 0);
}

/* ---- contract: client changes and phases ---- */

static void t_update(void **state)
{
    struct fx *f = *state;
    struct otf_errbuf eb = {0};
    struct otf_job *j = mk("u1", "alice", OTF_PHASE_PENDING, 1000, "demo", NULL);
    struct otf_job *g;
    struct otf_store_queue *q = NULL;
    size_t nq = 0;

    otf_uws_job_set_param(j, "ra", "1", 0);
    otf_uws_job_set_param(j, "dec", "2", 0);
    put(f->st, j);

    j = get(f->st, "u1");
    otf_uws_job_del_param(j, "ra");
    otf_uws_job_set_param(j, "precision", "FP16C_FP32A", 0);
    otf_uws_job_set_param(j, "image", "http://x/y.fits", 1);
    free(j->run_id);
    j->run_id = otf_xstrdup("r2");
    j->exec_duration_s = 30;
    j->destruction_us = 5000;
    j->upload_bytes = 77;
    j->phase = OTF_PHASE_COMPLETED; /* not a client-settable field: ignored */
    j->creation_us = 1;
    assert_int_equal(otf_store_update_job(f->st, j, BIT(OTF_PHASE_PENDING), &eb), OTF_OK);
    otf_uws_job_free(j);

    g = get(f->st, "u1");
    assert_int_equal(g->phase, OTF_PHASE_PENDING);
    assert_int_equal(g->creation_us, 1000);
    assert_string_equal(g->run_id, "r2");
    assert_int_equal(g->exec_duration_s, 30);
    assert_int_equal(g->destruction_us, 5000);
    assert_int_equal(g->upload_bytes, 77);
    assert_int_equal(g->n_params, 4);
    assert_null(otf_uws_job_get_param(g, "ra"));
    assert_string_equal(otf_uws_job_get_param(g, "dec"), "2");
    assert_string_equal(otf_uws_job_get_param(g, "precision"), "FP16C_FP32A");
    assert_int_equal(g->params[3].by_reference, 1);

    /* The batch key follows the parameters (canonical precision). */
    assert_int_equal(
        otf_store_set_phase(f->st, "u1", BIT(OTF_PHASE_PENDING), QUEUED, NULL, NULL, NULL), OTF_OK);
    assert_int_equal(otf_store_queue_summary(f->st, &q, &nq, NULL), OTF_OK);
    assert_int_equal(nq, 1);
    assert_string_equal(q[0].model, "demo");
    assert_string_equal(q[0].precision, "FP16");
    otf_store_queue_free(q, nq);

    /* Not PENDING any more: refused, with the phase in the message, and nothing changes. */
    otf_uws_job_set_param(g, "dec", "3", 0);
    assert_int_equal(otf_store_update_job(f->st, g, BIT(OTF_PHASE_PENDING), &eb), OTF_E_STATE);
    assert_non_null(strstr(eb.msg, "QUEUED"));
    otf_uws_job_free(g);
    g = get(f->st, "u1");
    assert_string_equal(otf_uws_job_get_param(g, "dec"), "2");
    snprintf(g->id, sizeof g->id, "missing");
    assert_int_equal(otf_store_update_job(f->st, g, ~0u, NULL), OTF_E_NOTFOUND);
    otf_uws_job_free(g);
}

static void t_set_phase(void **state)
{
    struct fx *f = *state;
    struct otf_errbuf eb = {0};
    enum otf_phase old = OTF_PHASE_UNKNOWN;
    int64_t t0 = otf_time_now_us();
    struct otf_job *g;

    put(f->st, mk("p1", "alice", OTF_PHASE_PENDING, 1000, "demo", NULL));
    assert_int_equal(otf_store_set_phase(f->st, "p1", BIT(OTF_PHASE_PENDING) | BIT(OTF_PHASE_HELD),
                                         QUEUED, NULL, &old, &eb),
                     OTF_OK);
    assert_int_equal(old, OTF_PHASE_PENDING);
    /* compare-and-set: a second RUN from PENDING fails and reports the real phase */
    old = OTF_PHASE_UNKNOWN;
    assert_int_equal(
        otf_store_set_phase(f->st, "p1", BIT(OTF_PHASE_PENDING), QUEUED, NULL, &old, &eb),
        OTF_E_STATE);
    assert_non_null(strstr(eb.msg, "QUEUED"));
    assert_int_equal(old, OTF_PHASE_UNKNOWN); /* written only on success */
    g = get(f->st, "p1");
    assert_int_equal(g->start_us, 0);
    assert_int_equal(g->end_us, 0);
    otf_uws_job_free(g);

    assert_int_equal(
        otf_store_set_phase(f->st, "p1", BIT(QUEUED), OTF_PHASE_EXECUTING, NULL, NULL, &eb),
        OTF_OK);
    g = get(f->st, "p1");
    assert_int_equal(g->phase, OTF_PHASE_EXECUTING);
    assert_true(g->start_us >= t0);
    assert_int_equal(g->end_us, 0);
    otf_uws_job_free(g);

    assert_int_equal(otf_store_set_phase(f->st, "p1", BIT(OTF_PHASE_EXECUTING), OTF_PHASE_ERROR,
                                         "input is not a FITS file", &old, &eb),
                     OTF_OK);
    assert_int_equal(old, OTF_PHASE_EXECUTING);
    g = get(f->st, "p1");
    assert_int_equal(g->phase, OTF_PHASE_ERROR);
    assert_true(g->end_us >= g->start_us);
    assert_string_equal(g->error_summary, "input is not a FITS file");
    assert_int_equal(g->error_is_fatal, 1);
    otf_uws_job_free(g);

    /* NULL error keeps the summary; ARCHIVED is final too */
    assert_int_equal(otf_store_set_phase(f->st, "p1", BIT(OTF_PHASE_ERROR), OTF_PHASE_ARCHIVED,
                                         NULL, NULL, NULL),
                     OTF_OK);
    g = get(f->st, "p1");
    assert_int_equal(g->phase, OTF_PHASE_ARCHIVED);
    assert_string_equal(g->error_summary, "input is not a FITS file");
    otf_uws_job_free(g);

    assert_int_equal(otf_store_set_phase(f->st, "zz", ~0u, QUEUED, NULL, NULL, NULL),
                     OTF_E_NOTFOUND);
    assert_int_equal(otf_store_set_phase(f->st, "p1", ~0u, (enum otf_phase)42, NULL, NULL, NULL),
                     OTF_E_INVAL);
}

static void t_abort_executing(void **state)
{
    struct fx *f = *state;
    char s[64];

    put(f->st, mk("a1", "alice", QUEUED, 1000, "demo", NULL));
    claim_ids(f->st, "w1", "demo", "FP32", 1, s, sizeof s);
    assert_string_equal(s, "a1");
    assert_int_equal(otf_store_set_phase(f->st, "a1", BIT(OTF_PHASE_EXECUTING) | BIT(QUEUED),
                                         OTF_PHASE_ABORTED, NULL, NULL, NULL),
                     OTF_OK);
    /* An aborted job is no longer the worker's: its lease no longer matters. */
    sleep_ms(2);
    assert_int_equal(otf_store_recover_expired(f->st, 5, NULL, NULL, NULL, NULL), OTF_OK);
    assert_int_equal(phase_of(f->st, "a1"), OTF_PHASE_ABORTED);
}

/* ---- contract: claims ---- */

static void t_claim_by_key(void **state)
{
    struct fx *f = *state;
    char s[256];

    put(f->st, mk("a", "u1", QUEUED, 1000, "demo", "FP32"));
    put(f->st, mk("b", "u2", QUEUED, 1001, "demo", "BF16"));
    put(f->st, mk("c", "u1", QUEUED, 1002, "other", "FP32"));
    put(f->st, mk("d", "u2", QUEUED, 1003, "demo", "FP32C_FP32A")); /* CIANNA alias */
    put(f->st, mk("e", "u3", QUEUED, 1004, "demo", NULL));          /* default FP32 */
    put(f->st, mk("p", "u3", OTF_PHASE_PENDING, 1005, "demo", NULL));

    claim_ids(f->st, "w1", "demo", "FP32", 2, s, sizeof s);
    assert_string_equal(s, "a d"); /* oldest first, up to max */
    claim_ids(f->st, "w2", "demo", "FP32", 5, s, sizeof s);
    assert_string_equal(s, "e");
    claim_ids(f->st, "w2", "demo", "FP32", 5, s, sizeof s);
    assert_string_equal(s, ""); /* empty, but a valid array */
    claim_ids(f->st, "w3", "demo", "bf16", 5, s, sizeof s);
    assert_string_equal(s, "b");
    claim_ids(f->st, "w3", NULL, NULL, 5, s, sizeof s);
    assert_string_equal(s, "c");
    claim_ids(f->st, "w3", NULL, NULL, 5, s, sizeof s);
    assert_string_equal(s, ""); /* the PENDING job is never claimed */
    assert_int_equal(phase_of(f->st, "p"), OTF_PHASE_PENDING);
}

static void t_claim_details(void **state)
{
    struct fx *f = *state;
    struct otf_job **jobs = NULL;
    struct otf_job *j = mk("c1", "alice", QUEUED, 1000, "demo", NULL);
    size_t n = 0;
    int64_t t0 = otf_time_now_us();

    otf_uws_job_set_param(j, "ra", "12.5", 0);
    put(f->st, j);
    assert_int_equal(
        otf_store_claim_jobs(f->st, "worker-1", "demo", "FP32", 4, 60000, &jobs, &n, NULL), OTF_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0]->id, "c1");
    assert_string_equal(jobs[0]->owner, "alice");
    assert_int_equal(jobs[0]->attempts, 1);
    assert_true(jobs[0]->start_us >= t0);
    assert_string_equal(otf_uws_job_get_param(jobs[0], "ra"), "12.5");
    otf_uws_job_array_free(jobs, n);
    j = get(f->st, "c1");
    assert_int_equal(j->phase, OTF_PHASE_EXECUTING);
    assert_int_equal(j->attempts, 1);
    otf_uws_job_free(j);

    assert_int_equal(otf_store_claim_jobs(f->st, "w", "demo", "FP32", 0, 1000, &jobs, &n, NULL),
                     OTF_E_INVAL);
    assert_int_equal(otf_store_claim_jobs(f->st, "w", "demo", "FP32", 1, 0, &jobs, &n, NULL),
                     OTF_E_INVAL);
}

static void t_claim_job_ids(void **state)
{
    struct fx *f = *state;
    struct otf_job **jobs = NULL;
    size_t n = 0;
    char s[256];
    const char *ids[] = {"z3", "z1", "gone", "z2"};

    put(f->st, mk("z1", "u1", QUEUED, 1000, "demo", NULL));
    put(f->st, mk("z2", "u2", QUEUED, 1001, "demo", NULL));
    put(f->st, mk("z3", "u2", QUEUED, 1002, "demo", NULL));
    assert_int_equal(
        otf_store_set_phase(f->st, "z2", BIT(QUEUED), OTF_PHASE_ABORTED, NULL, NULL, NULL), OTF_OK);
    /* The scheduler's choice and order; aborted and unknown ids are skipped. */
    assert_int_equal(otf_store_claim_job_ids(f->st, "w1", "w1/r-7", ids, 4, 60000, &jobs, &n, NULL),
                     OTF_OK);
    ids_of(jobs, n, s, sizeof s);
    assert_string_equal(s, "z3 z1");
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(jobs[i]->phase, OTF_PHASE_EXECUTING);
        assert_int_equal(jobs[i]->attempts, 1);
        assert_string_equal(jobs[i]->batch, "w1/r-7"); /* the batch running it (jobInfo) */
    }
    otf_uws_job_array_free(jobs, n);
    /* Already claimed: nobody else gets them. */
    assert_int_equal(otf_store_claim_job_ids(f->st, "w2", NULL, ids, 4, 60000, &jobs, &n, NULL),
                     OTF_OK);
    assert_int_equal(n, 0);
    otf_uws_job_array_free(jobs, n);
    /* Back in the queue, a job runs in no batch. */
    assert_int_equal(otf_store_release_worker(f->st, "w1", 2, "crashed", NULL, NULL, NULL), OTF_OK);
    {
        struct otf_job *j = get(f->st, "z1");
        assert_int_equal(j->phase, QUEUED);
        assert_null(j->batch);
        otf_uws_job_free(j);
    }
}

static void t_release_worker(void **state)
{
    struct fx *f = *state;
    char s[256];
    int64_t nq = -1, nf = -1;
    struct otf_job *j;

    put(f->st, mk("r1", "u1", QUEUED, 1000, "demo", NULL));
    put(f->st, mk("r2", "u1", QUEUED, 1001, "demo", NULL));
    put(f->st, mk("r3", "u1", QUEUED, 1002, "demo", NULL));
    claim_ids(f->st, "dead", "demo", "FP32", 2, s, sizeof s);
    assert_string_equal(s, "r1 r2");
    claim_ids(f->st, "alive", "demo", "FP32", 1, s, sizeof s);
    assert_string_equal(s, "r3");
    /* First crash: both go back to the queue; the other worker's job is untouched. */
    assert_int_equal(otf_store_release_worker(f->st, "dead", 2, "crashed", &nq, &nf, NULL), OTF_OK);
    assert_int_equal(nq, 2);
    assert_int_equal(nf, 0);
    assert_int_equal(phase_of(f->st, "r1"), QUEUED);
    assert_int_equal(phase_of(f->st, "r3"), OTF_PHASE_EXECUTING);
    /* Second crash on the same jobs: they fail with the given summary. */
    claim_ids(f->st, "dead", "demo", "FP32", 2, s, sizeof s);
    assert_int_equal(otf_store_release_worker(f->st, "dead", 2, "crashed twice", &nq, &nf, NULL),
                     OTF_OK);
    assert_int_equal(nq, 0);
    assert_int_equal(nf, 2);
    j = get(f->st, "r2");
    assert_int_equal(j->phase, OTF_PHASE_ERROR);
    assert_string_equal(j->error_summary, "crashed twice");
    assert_true(j->end_us > 0);
    otf_uws_job_free(j);
    /* Nothing held: no change at all. */
    {
        int64_t before = seq_of(f->st);
        assert_int_equal(otf_store_release_worker(f->st, "nobody", 2, "x", &nq, &nf, NULL), OTF_OK);
        assert_int_equal(nq + nf, 0);
        assert_int_equal(seq_of(f->st), before);
    }
}

static void t_claim_oldest_key(void **state)
{
    struct fx *f = *state;
    char s[256];

    /* Queue order, not creation order, decides: x was created last but queued first. */
    put(f->st, mk("y", "u", OTF_PHASE_PENDING, 1000, "m1", NULL));
    put(f->st, mk("z", "u", OTF_PHASE_PENDING, 1001, "m2", NULL));
    put(f->st, mk("x", "u", QUEUED, 1002, "m2", NULL));
    sleep_ms(2);
    assert_int_equal(
        otf_store_set_phase(f->st, "y", BIT(OTF_PHASE_PENDING), QUEUED, NULL, NULL, NULL), OTF_OK);
    sleep_ms(2);
    assert_int_equal(
        otf_store_set_phase(f->st, "z", BIT(OTF_PHASE_PENDING), QUEUED, NULL, NULL, NULL), OTF_OK);
    put(f->st, mk("w", "u", QUEUED, 1003, "m1", "BF16"));

    claim_ids(f->st, "w1", NULL, NULL, 10, s, sizeof s);
    assert_string_equal(s, "x z");
    claim_ids(f->st, "w1", "m1", NULL, 10, s, sizeof s);
    assert_string_equal(s, "y"); /* model given: the precision of its oldest queued job */
    claim_ids(f->st, "w1", "m1", NULL, 10, s, sizeof s);
    assert_string_equal(s, "w");
    claim_ids(f->st, "w1", "m3", NULL, 10, s, sizeof s);
    assert_string_equal(s, "");
}

#define N_RACE  120
#define PER_JOB 2

struct racer {
    const char *url;
    const char *worker;
    pthread_barrier_t *bar;
    char ids[N_RACE][40];
    size_t n;
    int failed;
};

static void *race_main(void *arg)
{
    struct racer *r = arg;
    struct otf_store *st = NULL;
    struct otf_errbuf eb = {0};

    if (otf_store_open(r->url, &st, &eb) != OTF_OK) {
        r->failed = 1;
        pthread_barrier_wait(r->bar);
        return NULL;
    }
    pthread_barrier_wait(r->bar);
    for (;;) {
        struct otf_job **jobs = NULL;
        size_t n = 0;
        if (otf_store_claim_jobs(st, r->worker, "demo", "FP32", PER_JOB, 60000, &jobs, &n, &eb) !=
            OTF_OK) {
            fprintf(stderr, "%s: %s\n", r->worker, eb.msg);
            r->failed = 1;
            break;
        }
        for (size_t i = 0; i < n && r->n < N_RACE; i++)
            memcpy(r->ids[r->n++], jobs[i]->id, 40);
        otf_uws_job_array_free(jobs, n);
        if (n == 0)
            break;
        /* A worker spends time on its batch between claims: lets the two interleave. */
        sleep_ms(1);
    }
    otf_store_close(st);
    return NULL;
}

/* Two handles on two threads claim from the same queue: every job goes to exactly one. */
static void t_concurrent_claims(void **state)
{
    struct fx *f = *state;
    pthread_barrier_t bar;
    pthread_t th[2];
    struct racer *r = calloc(2, sizeof *r);
    char seen[N_RACE] = {0};
    struct otf_job **jobs = NULL;
    size_t n = 0;

    assert_non_null(r);
    for (int i = 0; i < N_RACE; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%03d", i);
        put(f->st, mk(id, "u", QUEUED, 1000 + i, "demo", NULL));
    }
    pthread_barrier_init(&bar, NULL, 2);
    for (int i = 0; i < 2; i++) {
        r[i].url = f->url;
        r[i].worker = i ? "wB" : "wA";
        r[i].bar = &bar;
        assert_int_equal(pthread_create(&th[i], NULL, race_main, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    assert_false(r[0].failed);
    assert_false(r[1].failed);
    assert_int_equal(r[0].n + r[1].n, N_RACE);
    for (int i = 0; i < 2; i++) {
        for (size_t k = 0; k < r[i].n; k++) {
            int idx = atoi(r[i].ids[k] + 1);
            assert_in_range(idx, 0, N_RACE - 1);
            assert_int_equal(seen[idx], 0); /* never claimed twice */
            seen[idx] = 1;
        }
    }
    fprintf(stderr, "    claims split %zu / %zu\n", r[0].n, r[1].n);
    /* Each job is held by the worker that got it. */
    assert_int_equal(otf_store_list_jobs(
                         f->st, &(struct otf_store_filter){.phase_mask = BIT(OTF_PHASE_EXECUTING)},
                         &jobs, &n, NULL),
                     OTF_OK);
    assert_int_equal(n, N_RACE);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(jobs[i]->attempts, 1);
    otf_uws_job_array_free(jobs, n);
    free(r);
}

/* ---- contract: leases, progress, finish ---- */

static void t_lease_expiry(void **state)
{
    struct fx *f = *state;
    struct otf_job **jobs = NULL;
    struct otf_job *g;
    size_t n = 0;
    int64_t nr = -1, nf = -1;

    put(f->st, mk("l1", "alice", QUEUED, 1000, "demo", NULL));
    put(f->st, mk("l2", "alice", QUEUED, 1001, "demo", NULL));
    assert_int_equal(otf_store_claim_jobs(f->st, "dead", "demo", "FP32", 1, 1, &jobs, &n, NULL),
                     OTF_OK);
    assert_int_equal(n, 1);
    otf_uws_job_array_free(jobs, n);
    sleep_ms(5);

    /* first loss: back to QUEUED, at the head of the queue */
    assert_int_equal(otf_store_recover_expired(f->st, 2, "worker lost", &nr, &nf, NULL), OTF_OK);
    assert_int_equal(nr, 1);
    assert_int_equal(nf, 0);
    g = get(f->st, "l1");
    assert_int_equal(g->phase, QUEUED);
    assert_int_equal(g->attempts, 1);
    assert_null(g->error_summary);
    otf_uws_job_free(g);

    /* second loss: attempts reached max_attempts -> ERROR with the message */
    assert_int_equal(otf_store_claim_jobs(f->st, "dead2", "demo", "FP32", 1, 1, &jobs, &n, NULL),
                     OTF_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0]->id, "l1");
    assert_int_equal(jobs[0]->attempts, 2);
    otf_uws_job_array_free(jobs, n);
    sleep_ms(5);
    assert_int_equal(otf_store_recover_expired(f->st, 2, "worker lost", &nr, &nf, NULL), OTF_OK);
    assert_int_equal(nr, 0);
    assert_int_equal(nf, 1);
    g = get(f->st, "l1");
    assert_int_equal(g->phase, OTF_PHASE_ERROR);
    assert_string_equal(g->error_summary, "worker lost");
    assert_int_equal(g->error_is_fatal, 1);
    assert_true(g->end_us > 0);
    otf_uws_job_free(g);

    /* a dead worker cannot finish it afterwards */
    g = get(f->st, "l1");
    assert_int_equal(otf_store_finish_job(f->st, "dead2", g, OTF_PHASE_COMPLETED, NULL),
                     OTF_E_STATE);
    otf_uws_job_free(g);

    /* nothing more to do; the untouched job stays queued; a NULL message gets a default */
    assert_int_equal(otf_store_recover_expired(f->st, 2, NULL, &nr, &nf, NULL), OTF_OK);
    assert_int_equal(nr + nf, 0);
    assert_int_equal(phase_of(f->st, "l2"), QUEUED);
    assert_int_equal(otf_store_claim_jobs(f->st, "dead3", "demo", "FP32", 1, 1, &jobs, &n, NULL),
                     OTF_OK);
    otf_uws_job_array_free(jobs, n);
    sleep_ms(5);
    assert_int_equal(otf_store_recover_expired(f->st, 1, NULL, NULL, NULL, NULL), OTF_OK);
    g = get(f->st, "l2");
    assert_int_equal(g->phase, OTF_PHASE_ERROR);
    assert_non_null(g->error_summary);
    assert_true(strlen(g->error_summary) > 10);
    otf_uws_job_free(g);
    assert_int_equal(otf_store_recover_expired(f->st, 0, NULL, NULL, NULL, NULL), OTF_E_INVAL);
}

static void t_renew_lease(void **state)
{
    struct fx *f = *state;
    struct otf_job **jobs = NULL;
    size_t n = 0;
    int64_t nr = -1, nf = -1, seq;

    put(f->st, mk("k1", "u", QUEUED, 1000, "demo", NULL));
    put(f->st, mk("k2", "u", QUEUED, 1001, "other", NULL));
    assert_int_equal(otf_store_claim_jobs(f->st, "alive", "demo", "FP32", 1, 1, &jobs, &n, NULL),
                     OTF_OK);
    otf_uws_job_array_free(jobs, n);
    assert_int_equal(otf_store_claim_jobs(f->st, "gone", "other", "FP32", 1, 1, &jobs, &n, NULL),
                     OTF_OK);
    otf_uws_job_array_free(jobs, n);
    seq = seq_of(f->st);
    assert_int_equal(otf_store_renew_lease(f->st, "alive", 60000, NULL), OTF_OK);
    assert_int_equal(seq_of(f->st), seq); /* a heartbeat is not a visible change */
    sleep_ms(5);
    assert_int_equal(otf_store_recover_expired(f->st, 3, NULL, &nr, &nf, NULL), OTF_OK);
    assert_int_equal(nr, 1);
    assert_int_equal(nf, 0);
    assert_int_equal(phase_of(f->st, "k1"), OTF_PHASE_EXECUTING);
    assert_int_equal(phase_of(f->st, "k2"), QUEUED);
    assert_int_equal(otf_store_renew_lease(f->st, "nobody", 1000, NULL), OTF_OK);
}

static void t_progress_finish(void **state)
{
    struct fx *f = *state;
    struct otf_errbuf eb = {0};
    struct otf_job **jobs = NULL;
    struct otf_job *g, *done;
    size_t n = 0;

    put(f->st, mk("f1", "alice", QUEUED, 1000, "demo", NULL));
    put(f->st, mk("f2", "alice", QUEUED, 1001, "demo", NULL));
    put(f->st, mk("f3", "alice", QUEUED, 1002, "demo", NULL));
    put(f->st, mk("f4", "alice", OTF_PHASE_PENDING, 1003, "demo", NULL));
    assert_int_equal(otf_store_claim_jobs(f->st, "w1", "demo", "FP32", 3, 60000, &jobs, &n, NULL),
                     OTF_OK);
    assert_int_equal(n, 3);

    assert_int_equal(otf_store_set_progress(f->st, "f1", 4, 16, "inference", &eb), OTF_OK);
    assert_int_equal(otf_store_set_progress(f->st, "f1", 5, 16, NULL, &eb), OTF_OK);
    g = get(f->st, "f1");
    assert_int_equal(g->patches_done, 5);
    assert_int_equal(g->patches_total, 16);
    assert_string_equal(g->stage, "inference");
    otf_uws_job_free(g);
    assert_int_equal(otf_store_set_progress(f->st, "f4", 1, 2, NULL, &eb), OTF_E_STATE);
    assert_int_equal(otf_store_set_progress(f->st, "none", 1, 2, NULL, &eb), OTF_E_NOTFOUND);

    /* COMPLETED with results, by the holder only */
    done = otf_uws_job_dup(jobs[0]);
    otf_uws_job_set_result(done, "catalog", "application/x-votable+xml", 4096);
    otf_uws_job_set_result(done, "regions", "text/plain", 100);
    otf_uws_job_set_param(done, "ra", "99", 0); /* not stored by finish */
    assert_int_equal(otf_store_finish_job(f->st, "w2", done, OTF_PHASE_COMPLETED, &eb),
                     OTF_E_STATE);
    assert_non_null(strstr(eb.msg, "w1"));
    assert_int_equal(otf_store_finish_job(f->st, "w1", done, OTF_PHASE_COMPLETED, &eb), OTF_OK);
    assert_int_equal(otf_store_finish_job(f->st, "w1", done, OTF_PHASE_COMPLETED, &eb),
                     OTF_E_STATE);
    otf_uws_job_free(done);
    g = get(f->st, "f1");
    assert_int_equal(g->phase, OTF_PHASE_COMPLETED);
    assert_true(g->end_us >= g->start_us);
    assert_null(g->error_summary);
    assert_int_equal(g->n_results, 2);
    assert_string_equal(g->results[0].id, "catalog");
    assert_int_equal(g->results[0].size_bytes, 4096);
    assert_string_equal(g->results[1].mime, "text/plain");
    assert_null(otf_uws_job_get_param(g, "ra"));
    otf_uws_job_free(g);
    assert_int_equal(otf_store_set_progress(f->st, "f1", 16, 16, "done", &eb), OTF_E_STATE);

    /* ERROR with the worker's message */
    done = otf_uws_job_dup(jobs[1]);
    done->error_summary = otf_xstrdup("HDU 3 has no image");
    done->error_is_fatal = 1;
    assert_int_equal(otf_store_finish_job(f->st, "w1", done, OTF_PHASE_ERROR, &eb), OTF_OK);
    otf_uws_job_free(done);
    g = get(f->st, "f2");
    assert_int_equal(g->phase, OTF_PHASE_ERROR);
    assert_string_equal(g->error_summary, "HDU 3 has no image");
    assert_int_equal(g->error_is_fatal, 1);
    assert_int_equal(g->n_results, 0);
    otf_uws_job_free(g);

    /* aborted by the client while running: the worker's result is refused */
    assert_int_equal(otf_store_set_phase(f->st, "f3", BIT(OTF_PHASE_EXECUTING), OTF_PHASE_ABORTED,
                                         NULL, NULL, NULL),
                     OTF_OK);
    assert_int_equal(otf_store_set_progress(f->st, "f3", 1, 2, NULL, &eb), OTF_E_STATE);
    assert_non_null(strstr(eb.msg, "ABORTED"));
    assert_int_equal(otf_store_finish_job(f->st, "w1", jobs[2], OTF_PHASE_COMPLETED, &eb),
                     OTF_E_STATE);
    assert_non_null(strstr(eb.msg, "ABORTED"));
    assert_int_equal(phase_of(f->st, "f3"), OTF_PHASE_ABORTED);
    assert_int_equal(otf_store_finish_job(f->st, "w1", jobs[2], OTF_PHASE_QUEUED, &eb),
                     OTF_E_INVAL);
    otf_uws_job_array_free(jobs, n);
}

static void t_queue_summary(void **state)
{
    struct fx *f = *state;
    struct otf_store_queue *q = NULL;
    size_t n = 99;

    assert_int_equal(otf_store_queue_summary(f->st, &q, &n, NULL), OTF_OK);
    assert_non_null(q);
    assert_int_equal(n, 0);
    otf_store_queue_free(q, n);

    put(f->st, mk("q1", "u", QUEUED, 1000, "demo", "BF16"));
    sleep_ms(2);
    put(f->st, mk("q2", "u", QUEUED, 1001, "demo", NULL));
    sleep_ms(2);
    put(f->st, mk("q3", "u", QUEUED, 1002, "demo", "BF16C_FP32A"));
    put(f->st, mk("q4", "u", QUEUED, 1003, "big", "FP32"));
    put(f->st, mk("q5", "u", OTF_PHASE_PENDING, 1004, "pending", NULL));
    put(f->st, mk("q6", "u", QUEUED, 1005, NULL, NULL));
    assert_int_equal(otf_store_queue_summary(f->st, &q, &n, NULL), OTF_OK);
    assert_int_equal(n, 4);
    assert_string_equal(q[0].model, "demo"); /* oldest key first */
    assert_string_equal(q[0].precision, "BF16");
    assert_int_equal(q[0].n_jobs, 2);
    assert_string_equal(q[1].model, "demo");
    assert_string_equal(q[1].precision, "FP32");
    assert_int_equal(q[1].n_jobs, 1);
    assert_true(q[1].oldest_queued_us > q[0].oldest_queued_us);
    assert_string_equal(q[2].model, "big");
    assert_null(q[3].model);
    assert_string_equal(q[3].precision, "FP32");
    otf_store_queue_free(q, n);
}

/* ---- contract: reaper queries ---- */

static void t_reaper(void **state)
{
    struct fx *f = *state;
    struct otf_job **jobs = NULL;
    struct otf_job *j;
    char **ids = NULL;
    size_t n = 0, nj = 0;
    int64_t start;

    j = mk("r0", "u", OTF_PHASE_COMPLETED, 10, NULL, NULL);
    put(f->st, j); /* no destruction time */
    j = mk("r2", "u", OTF_PHASE_COMPLETED, 11, NULL, NULL);
    j->destruction_us = 200;
    put(f->st, j);
    j = mk("r1", "u", OTF_PHASE_PENDING, 12, NULL, NULL);
    j->destruction_us = 100;
    put(f->st, j);
    j = mk("r3", "u", OTF_PHASE_COMPLETED, 13, NULL, NULL);
    j->destruction_us = 300;
    put(f->st, j);
    j = mk("ra", "u", OTF_PHASE_ARCHIVED, 14, NULL, NULL);
    j->destruction_us = 50;
    put(f->st, j);

    assert_int_equal(otf_store_list_destroyable(f->st, 250, 0, &ids, &n, NULL), OTF_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], "r1");
    assert_string_equal(ids[1], "r2");
    otf_store_ids_free(ids, n);
    assert_int_equal(otf_store_list_destroyable(f->st, 250, 1, &ids, &n, NULL), OTF_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], "r1");
    otf_store_ids_free(ids, n);
    assert_int_equal(otf_store_list_destroyable(f->st, 99, 10, &ids, &n, NULL), OTF_OK);
    assert_non_null(ids);
    assert_int_equal(n, 0);
    otf_store_ids_free(ids, n);

    /* executionDuration: counted from the start of the (current) execution */
    j = mk("x1", "u", QUEUED, 20, "demo", NULL);
    j->exec_duration_s = 2;
    put(f->st, j);
    j = mk("x2", "u", QUEUED, 21, "demo", NULL);
    put(f->st, j); /* unlimited */
    j = mk("x3", "u", QUEUED, 22, "other", NULL);
    j->exec_duration_s = 1;
    put(f->st, j); /* not started */
    assert_int_equal(otf_store_claim_jobs(f->st, "w", "demo", "FP32", 5, 60000, &jobs, &nj, NULL),
                     OTF_OK);
    assert_int_equal(nj, 2);
    start = jobs[0]->start_us;
    otf_uws_job_array_free(jobs, nj);
    assert_int_equal(otf_store_list_overdue(f->st, start + 1999999, 0, &ids, &n, NULL), OTF_OK);
    assert_int_equal(n, 0);
    otf_store_ids_free(ids, n);
    assert_int_equal(otf_store_list_overdue(f->st, start + 2000000, 0, &ids, &n, NULL), OTF_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], "x1");
    otf_store_ids_free(ids, n);
    assert_int_equal(otf_store_list_overdue(f->st, start + 1000000000, 0, &ids, &n, NULL), OTF_OK);
    assert_int_equal(n, 1);
    otf_store_ids_free(ids, n);
}

/* ---- contract: change counter, persistence, handles ---- */

/* Phases of many jobs in one read, -1 for ids that name no job (what WAIT polls). */
static void t_get_phases(void **state)
{
    struct fx *f = *state;
    const char *ids[4] = {"ph1", "nope", "ph2", "ph1"};
    int phases[4] = {7, 7, 7, 7};
    int64_t s0;

    put(f->st, mk("ph1", "u", OTF_PHASE_PENDING, 1000, "demo", NULL));
    put(f->st, mk("ph2", "u", OTF_PHASE_PENDING, 1001, "demo", NULL));
    assert_int_equal(
        otf_store_set_phase(f->st, "ph2", BIT(OTF_PHASE_PENDING), QUEUED, NULL, NULL, NULL),
        OTF_OK);
    s0 = seq_of(f->st);
    assert_int_equal(otf_store_get_phases(f->st, ids, 4, phases, NULL), OTF_OK);
    assert_int_equal(phases[0], OTF_PHASE_PENDING);
    assert_int_equal(phases[1], -1);
    assert_int_equal(phases[2], OTF_PHASE_QUEUED);
    assert_int_equal(phases[3], OTF_PHASE_PENDING);
    assert_int_equal(seq_of(f->st), s0); /* a read */
    assert_int_equal(otf_store_delete_job(f->st, "ph1", NULL), OTF_OK);
    assert_int_equal(otf_store_get_phases(f->st, ids, 4, phases, NULL), OTF_OK);
    assert_int_equal(phases[0], -1);
    assert_int_equal(phases[2], OTF_PHASE_QUEUED);
    assert_int_equal(otf_store_get_phases(f->st, NULL, 0, NULL, NULL), OTF_OK);
}

static void t_change_seq(void **state)
{
    struct fx *f = *state;
    struct otf_store *other = NULL;
    struct otf_job *j;
    int64_t s0, s1, s2, s3;

    s0 = seq_of(f->st);
    put(f->st, mk("s1", "u", OTF_PHASE_PENDING, 1000, "demo", NULL));
    s1 = seq_of(f->st);
    assert_true(s1 > s0);
    j = get(f->st, "s1");
    otf_uws_job_free(j);
    assert_int_equal(seq_of(f->st), s1); /* reads change nothing */
    assert_int_equal(
        otf_store_set_phase(f->st, "s1", BIT(QUEUED), OTF_PHASE_ABORTED, NULL, NULL, NULL),
        OTF_E_STATE);
    assert_int_equal(seq_of(f->st), s1); /* nor do refused changes */
    assert_int_equal(otf_store_recover_expired(f->st, 2, NULL, NULL, NULL, NULL), OTF_OK);
    assert_int_equal(seq_of(f->st), s1);

    assert_int_equal(otf_store_open(f->url, &other, NULL), OTF_OK);
    assert_int_equal(seq_of(other), s1);
    j = get(other, "s1");
    assert_int_equal(otf_store_update_job(other, j, BIT(OTF_PHASE_PENDING), NULL), OTF_OK);
    otf_uws_job_free(j);
    s2 = seq_of(f->st); /* another handle's write is seen */
    assert_true(s2 > s1);
    assert_int_equal(
        otf_store_set_phase(other, "s1", BIT(OTF_PHASE_PENDING), QUEUED, NULL, NULL, NULL), OTF_OK);
    s3 = seq_of(f->st);
    assert_true(s3 > s2);
    assert_int_equal(otf_store_delete_job(other, "s1", NULL), OTF_OK);
    assert_true(seq_of(f->st) > s3);
    otf_store_close(other);
}

struct bumper {
    const char *url;
    int delay_ms;
    int ok;
};

static void *bump_main(void *arg)
{
    struct bumper *b = arg;
    struct otf_store *st = NULL;

    sleep_ms(b->delay_ms);
    if (otf_store_open(b->url, &st, NULL) == OTF_OK) {
        struct otf_job *j = mk("late", "u", OTF_PHASE_PENDING, 1, NULL, NULL);
        b->ok = otf_store_insert_job(st, j, NULL) == OTF_OK;
        otf_uws_job_free(j);
        otf_store_close(st);
    }
    return NULL;
}

static void t_wait_change(void **state)
{
    struct fx *f = *state;
    struct bumper b = {.url = f->url, .delay_ms = 50};
    pthread_t th;
    int64_t s0 = seq_of(f->st), now = -1, t0;

    /* nothing happens: returns after the timeout with the same value */
    t0 = otf_time_mono_us();
    assert_int_equal(otf_store_wait_change(f->st, s0, 60, &now, NULL), OTF_OK);
    assert_int_equal(now, s0);
    assert_true(otf_time_mono_us() - t0 >= 55000);
    /* a write from another handle wakes the waiter well before its timeout */
    assert_int_equal(pthread_create(&th, NULL, bump_main, &b), 0);
    t0 = otf_time_mono_us();
    assert_int_equal(otf_store_wait_change(f->st, s0, 10000, &now, NULL), OTF_OK);
    pthread_join(th, NULL);
    assert_true(b.ok);
    assert_true(now > s0);
    assert_true(otf_time_mono_us() - t0 < 5000000);
    /* an old value returns at once */
    assert_int_equal(otf_store_wait_change(f->st, s0, 10000, &now, NULL), OTF_OK);
    assert_true(now > s0);
}

static int readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* The change descriptor: readable after another handle's write, empty after a drain. */
static void t_change_fd(void **state)
{
    struct fx *f = *state;
    struct otf_store *other = NULL;
    int fd = otf_store_change_fd(f->st);

    assert_true(fd >= 0);                             /* a SQLite file on Linux: inotify */
    assert_int_equal(otf_store_change_fd(f->st), fd); /* made once per handle */
    otf_store_change_fd_drain(f->st);
    assert_false(readable(fd, 0));
    assert_int_equal(otf_store_open(f->url, &other, NULL), OTF_OK);
    otf_store_change_fd_drain(f->st); /* opening may touch the files: not a change */
    put(other, mk("rung", "u", OTF_PHASE_PENDING, 1, NULL, NULL));
    assert_true(readable(fd, 10000));
    otf_store_change_fd_drain(f->st);
    assert_false(readable(fd, 0));
    /* reads and refused writes change nothing, and ring nothing */
    otf_uws_job_free(get(other, "rung"));
    assert_int_equal(
        otf_store_set_phase(other, "rung", BIT(QUEUED), OTF_PHASE_ABORTED, NULL, NULL, NULL),
        OTF_E_STATE);
    assert_false(readable(fd, 0));
    /* progress moves the counter but rings nothing; a phase change rings */
    {
        struct otf_job **jobs = NULL;
        size_t n = 0;
        int64_t s0;
        assert_int_equal(
            otf_store_set_phase(other, "rung", BIT(OTF_PHASE_PENDING), QUEUED, NULL, NULL, NULL),
            OTF_OK);
        assert_int_equal(otf_store_claim_job_ids(other, "w1", NULL, (const char *[]){"rung"}, 1,
                                                 60000, &jobs, &n, NULL),
                         OTF_OK);
        assert_int_equal(n, 1);
        otf_uws_job_array_free(jobs, n);
        assert_true(readable(fd, 10000));
        otf_store_change_fd_drain(f->st);
        s0 = seq_of(f->st);
        assert_int_equal(otf_store_set_progress(other, "rung", 1, 2, "inference", NULL), OTF_OK);
        assert_true(seq_of(f->st) > s0);
        assert_false(readable(fd, 0));
    }
    assert_int_equal(otf_store_delete_job(other, "rung", NULL), OTF_OK);
    assert_true(readable(fd, 10000));
    otf_store_close(other);
}

static void t_persistence(void **state)
{
    struct fx *f = *state;
    struct otf_job *j = mk("keep", "alice", QUEUED, 4242, "demo", "INT8");
    struct otf_job **jobs = NULL;
    size_t n = 0;
    int64_t seq;

    otf_uws_job_set_param(j, "image", "http://h/i.fits", 1);
    j->destruction_us = 99;
    put(f->st, j);
    put(f->st, mk("gone", "alice", OTF_PHASE_PENDING, 4243, NULL, NULL));
    assert_int_equal(otf_store_delete_job(f->st, "gone", NULL), OTF_OK);
    seq = seq_of(f->st);
    otf_store_close(f->st);
    f->st = NULL;

    assert_int_equal(otf_store_open(f->url, &f->st, NULL), OTF_OK);
    assert_int_equal(seq_of(f->st), seq);
    j = get(f->st, "keep");
    assert_string_equal(j->owner, "alice");
    assert_int_equal(j->phase, QUEUED);
    assert_int_equal(j->creation_us, 4242);
    assert_int_equal(j->destruction_us, 99);
    assert_int_equal(j->params[2].by_reference, 1);
    otf_uws_job_free(j);
    assert_int_equal(otf_store_get_job(f->st, "gone", &j, NULL), OTF_E_NOTFOUND);
    /* the queue survives too */
    assert_int_equal(otf_store_claim_jobs(f->st, "w", "demo", "INT8", 5, 1000, &jobs, &n, NULL),
                     OTF_OK);
    assert_int_equal(n, 1);
    otf_uws_job_array_free(jobs, n);
}

/* ---- SQLite specifics ---- */

static char *tmp_path(const char *name)
{
    return otf_xasprintf("%s/%s", tmp_dir, name);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

static int64_t pragma_int(const char *path, const char *pragma)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    char *sql = otf_xasprintf("PRAGMA %s", pragma);
    int64_t v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    free(sql);
    return v;
}

static void s_urls(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_store *st = NULL;
    char *p = tmp_path("bare.db"), *url;

    (void)state;
    assert_int_equal(otf_store_open("postgresql://otf@db/otf", &st, &eb), OTF_E_INVAL);
    assert_string_equal(eb.msg, "PostgreSQL store not built in this version");
    memset(&eb, 0, sizeof eb);
    assert_int_equal(otf_store_open("postgres://db/otf", &st, &eb), OTF_E_INVAL);
    assert_string_equal(eb.msg, "PostgreSQL store not built in this version");
    assert_int_equal(otf_store_open("mysql://db/otf", &st, &eb), OTF_E_INVAL);
    assert_non_null(strstr(eb.msg, "mysql://db/otf"));
    assert_int_equal(otf_store_open("/tmp/store.sqlite", &st, &eb), OTF_E_INVAL);
    assert_int_equal(otf_store_open("sqlite:", &st, &eb), OTF_E_INVAL);
    assert_null(st);

    /* a bare path ending in .db, and the same file as sqlite:// URL */
    assert_int_equal(otf_store_open(p, &st, &eb), OTF_OK);
    put(st, mk("b1", NULL, OTF_PHASE_PENDING, 1, NULL, NULL));
    otf_store_close(st);
    st = NULL;
    url = otf_xasprintf("sqlite://%s", p);
    assert_int_equal(otf_store_open(url, &st, &eb), OTF_OK);
    assert_int_equal(phase_of(st, "b1"), OTF_PHASE_PENDING);
    otf_store_close(st);
    free(url);

    /* a folder that does not exist */
    url = otf_xasprintf("sqlite:%s/no/such/dir/x.db", tmp_dir);
    st = NULL;
    assert_int_equal(otf_store_open(url, &st, &eb), OTF_E_IO);
    assert_null(st);
    free(url);
    free(p);
}

static void s_not_a_database(void **state)
{
    struct otf_errbuf eb = {0};
    struct otf_store *st = NULL;
    char *p = tmp_path("text.db"), *url = otf_xasprintf("sqlite:%s", p);
    char junk[4096];

    (void)state;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = "SIMPLE  =                    T / not a database, a FITS header\n"[i % 64];
    write_file(p, junk, sizeof junk);
    assert_int_equal(otf_store_open(url, &st, &eb), OTF_E_FORMAT);
    assert_null(st);
    assert_non_null(strstr(eb.msg, "not an SQLite database"));
    assert_non_null(strstr(eb.msg, p));
    free(url);
    free(p);
}

static void s_migrate_empty_file(void **state)
{
    struct otf_store *st = NULL;
    struct otf_errbuf eb = {0};
    char *p = tmp_path("empty.db"), *url = otf_xasprintf("sqlite:%s", p);
    int64_t version;

    (void)state;
    write_file(p, "", 0);
    assert_int_equal(otf_store_open(url, &st, &eb), OTF_OK);
    put(st, mk("m1", "u", QUEUED, 1, "demo", NULL));
    otf_store_close(st);
    version = pragma_int(p, "user_version");
    assert_true(version >= 1);
    assert_int_equal(pragma_int(p, "application_id"), 0x4f54463a); /* "OTF:" */
    /* WAL is a property of the file: readers never wait for the writer */
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *q = NULL;
        assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
        sqlite3_finalize(q);
        sqlite3_close(db);
    }
    /* reopening applies nothing twice */
    st = NULL;
    assert_int_equal(otf_store_open(url, &st, &eb), OTF_OK);
    assert_int_equal(phase_of(st, "m1"), QUEUED);
    otf_store_close(st);
    assert_int_equal(pragma_int(p, "user_version"), version);
    free(url);
    free(p);
}

/* A store written before migration 002 (no batch column) is upgraded in place at open, its
 * jobs kept. */
static void s_upgrade_from_001(void **state)
{
    struct otf_store *st = NULL;
    struct otf_errbuf eb = {0};
    char *p = tmp_path("v1.db"), *url = otf_xasprintf("sqlite:%s", p);
    sqlite3 *db = NULL;
    struct otf_job *j;

    (void)state;
    assert_int_equal(otf_store_open(url, &st, &eb), OTF_OK);
    put(st, mk("old", "u", QUEUED, 1, "demo", NULL));
    otf_store_close(st);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE jobs DROP COLUMN batch; PRAGMA user_version = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    st = NULL;
    assert_int_equal(otf_store_open(url, &st, &eb), OTF_OK);
    assert_true(pragma_int(p, "user_version") >= 2);
    j = get(st, "old");
    assert_int_equal(j->phase, QUEUED);
    assert_null(j->batch);
    otf_uws_job_free(j);
    otf_store_close(st);
    free(url);
    free(p);
}

static void s_newer_schema(void **state)
{
    struct otf_store *st = NULL;
    struct otf_errbuf eb = {0};
    char *p = tmp_path("future.db"), *url = otf_xasprintf("sqlite:%s", p);
    sqlite3 *db = NULL;

    (void)state;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA user_version = 999; PRAGMA application_id = 1330923066",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(otf_store_open(url, &st, &eb), OTF_E_STATE);
    assert_null(st);
    assert_non_null(strstr(eb.msg, "999"));
    free(url);
    free(p);
}

/* Somebody else's SQLite file is refused and left untouched. */
static void s_foreign_database(void **state)
{
    struct otf_store *st = NULL;
    struct otf_errbuf eb = {0};
    char *p = tmp_path("foreign.db"), *url = otf_xasprintf("sqlite:%s", p);
    sqlite3 *db = NULL;

    (void)state;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE photos (id INTEGER)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(otf_store_open(url, &st, &eb), OTF_E_FORMAT);
    assert_null(st);
    assert_non_null(strstr(eb.msg, "another application"));
    assert_int_equal(pragma_int(p, "user_version"), 0);

    /* versioned, but by another program */
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(otf_store_open(url, &st, &eb), OTF_E_FORMAT);
    assert_null(st);
    free(url);
    free(p);
}

struct locker {
    sqlite3 *db;
    int hold_ms;
};

static void *unlock_main(void *arg)
{
    struct locker *l = arg;
    sleep_ms(l->hold_ms);
    sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

/* A write waits for another process's write lock instead of failing at once. */
static void s_waits_for_lock(void **state)
{
    struct otf_store *st = NULL;
    struct otf_errbuf eb = {0};
    char *p = tmp_path("locked.db"), *url = otf_xasprintf("sqlite:%s", p);
    struct locker l = {.hold_ms = 300};
    pthread_t th;
    int64_t t0;
    struct otf_job *j;

    (void)state;
    assert_int_equal(otf_store_open(url, &st, &eb), OTF_OK);
    assert_int_equal(sqlite3_open(p, &l.db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(l.db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(pthread_create(&th, NULL, unlock_main, &l), 0);
    t0 = otf_time_mono_us();
    j = mk("w1", "u", OTF_PHASE_PENDING, 1, NULL, NULL);
    assert_int_equal(otf_store_insert_job(st, j, &eb), OTF_OK);
    otf_uws_job_free(j);
    assert_true(otf_time_mono_us() - t0 >= 250000);
    pthread_join(th, NULL);
    /* reads are not blocked by a writer (WAL) */
    assert_int_equal(sqlite3_exec(l.db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    t0 = otf_time_mono_us();
    assert_int_equal(phase_of(st, "w1"), OTF_PHASE_PENDING);
    assert_true(otf_time_mono_us() - t0 < 250000);
    sqlite3_exec(l.db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(l.db);
    otf_store_close(st);
    free(url);
    free(p);
}

/* ---- runner ---- */

static int rate(int n)
{
    struct otf_store *st = NULL;
    struct otf_errbuf eb = {0};
    char url[512];
    int64_t t0, dt;

    cur = &targets[0];
    cur->fresh(url, sizeof url);
    if (otf_store_open(url, &st, &eb) != OTF_OK) {
        fprintf(stderr, "%s\n", eb.msg);
        return 1;
    }
    t0 = otf_time_mono_us();
    for (int i = 0; i < n; i++) {
        struct otf_job *j = mk("", "alice", QUEUED, 0, "demo", "FP32");
        otf_random_id(j->id, 16);
        otf_uws_job_set_param(j, "image", "http://127.0.0.1/jobs/x/image.fits", 1);
        otf_uws_job_set_param(j, "ra", "150.1", 0);
        otf_uws_job_set_param(j, "dec", "2.2", 0);
        otf_uws_job_set_param(j, "size", "0.5", 0);
        if (otf_store_insert_job(st, j, &eb) != OTF_OK) {
            fprintf(stderr, "%s\n", eb.msg);
            return 1;
        }
        otf_uws_job_free(j);
    }
    dt = otf_time_mono_us() - t0;
    printf("%s: %d durable inserts in %.3f s = %.0f inserts/s (%.2f ms each)\n", cur->name, n,
           (double)dt / 1e6, n / ((double)dt / 1e6), (double)dt / 1e3 / n);
    otf_store_close(st);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest contract[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
        T(t_insert_get),    T(t_insert_duplicate), T(t_get_delete),
        T(t_list_filters),  T(t_list_full_jobs),   T(t_count),
        T(t_update),        T(t_set_phase),        T(t_abort_executing),
        T(t_claim_by_key),  T(t_claim_details),    T(t_claim_oldest_key),
        T(t_claim_job_ids), T(t_release_worker),   T(t_concurrent_claims),
        T(t_lease_expiry),  T(t_renew_lease),      T(t_progress_finish),
        T(t_queue_summary), T(t_reaper),           T(t_change_seq),
        T(t_get_phases),    T(t_wait_change),      T(t_change_fd),
        T(t_persistence),
#undef T
    };
    const struct CMUnitTest sqlite_only[] = {
        cmocka_unit_test(s_urls),
        cmocka_unit_test(s_not_a_database),
        cmocka_unit_test(s_migrate_empty_file),
        cmocka_unit_test(s_upgrade_from_001),
        cmocka_unit_test(s_newer_schema),
        cmocka_unit_test(s_foreign_database),
        cmocka_unit_test(s_waits_for_lock),
    };
    struct otf_errbuf eb = {0};
    int failed = 0;

    otf_log_setup(OTF_LOG_WARN, NULL);
    snprintf(tmp_dir, sizeof tmp_dir, "%s/otf-store-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (argc == 3 && strcmp(argv[1], "--rate") == 0) {
        failed = rate(atoi(argv[2]));
    } else {
        for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
            cur = &targets[i];
            failed |= cmocka_run_group_tests_name(cur->name, contract, NULL, NULL);
        }
        failed |= cmocka_run_group_tests_name("sqlite-specific", sqlite_only, NULL, NULL);
    }
    if (otf_fs_remove_tree(tmp_dir, &eb) != OTF_OK)
        fprintf(stderr, "cleanup: %s\n", eb.msg);
    return failed ? 1 : 0;
}
