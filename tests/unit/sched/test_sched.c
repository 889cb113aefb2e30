/* Unit tests for the batch formation policy: readiness, stickiness, fairness, packing, LRU. */
#include <stdlib.h>
#include <string.h>

#include "core/core_config.h"
#include "otf_test.h"
#include "sched/sched.h"

#define MS 1000

static struct otf_sched_params params(int min_jobs, int max_jobs, int wait_ms, int max_patches,
                                      int hold_ms)
{
    struct otf_sched_params p;
    memset(&p, 0, sizeof p);
    p.min_jobs = min_jobs;
    p.max_jobs = max_jobs;
    p.max_wait_ms = wait_ms;
    p.max_patches = max_patches;
    p.hold_ms = hold_ms;
    p.queue_max_jobs = 1000;
    p.max_resident = 2;
    p.memory_mb = 1024;
    return p;
}

static struct otf_sched_job job(const char *id, const char *owner, const char *model,
                                const char *prec, int64_t t, int64_t patches)
{
    struct otf_sched_job j = {id, owner, model, prec, t, patches};
    return j;
}

static void test_lone_job_runs_at_once(void **state)
{
    struct otf_sched_params p = params(1, 8, 50, 16, 200);
    struct otf_sched *s = otf_sched_new(&p);
    struct otf_sched_job q[] = {job("a", NULL, "demo", "FP32", 1000 * MS, 16)};
    static struct otf_sched_decision d;
    (void)state;
    otf_sched_pick_batch(s, q, 1, 1000 * MS, &d);
    assert_int_equal(d.n_jobs, 1);
    assert_string_equal(d.model, "demo");
    assert_int_equal(d.is_switch, 1);
    otf_sched_free(s);
}

static void test_min_jobs_waits_until_max_wait(void **state)
{
    struct otf_sched_params p = params(4, 8, 50, 16, 200);
    struct otf_sched *s = otf_sched_new(&p);
    struct otf_sched_job q[] = {job("a", NULL, "demo", "FP32", 1000 * MS, 16),
                                job("b", NULL, "demo", "FP32", 1010 * MS, 16)};
    static struct otf_sched_decision d;
    (void)state;
    otf_sched_pick_batch(s, q, 2, 1020 * MS, &d);
    assert_int_equal(d.n_jobs, 0);
    assert_int_equal(d.wake_at_us, 1050 * MS); /* from the FIRST queued job of the key */
    otf_sched_pick_batch(s, q, 2, 1050 * MS, &d);
    assert_int_equal(d.n_jobs, 2);
    assert_int_equal(d.job_idx[0], 0);
    assert_int_equal(d.job_idx[1], 1);
    otf_sched_free(s);
}

static void test_max_jobs_caps_batch(void **state)
{
    struct otf_sched_params p = params(1, 3, 50, 16, 200);
    struct otf_sched *s = otf_sched_new(&p);
    struct otf_sched_job q[5];
    static struct otf_sched_decision d;
    (void)state;
    for (int i = 0; i < 5; i++)
        q[i] = job("x", NULL, "demo", NULL, (int64_t)(10 - i) * MS, 1); /* newest first */
    otf_sched_pick_batch(s, q, 5, 100 * MS, &d);
    assert_int_equal(d.n_jobs, 3);
    assert_int_equal(d.job_idx[0], 4); /* oldest first */
    assert_int_equal(d.job_idx[1], 3);
    assert_int_equal(d.job_idx[2], 2);
    assert_string_equal(d.precision, "FP32"); /* absent precision is FP32 */
    otf_sched_free(s);
}

static void test_keys_fifo_and_hold(void **state)
{
    struct otf_sched_params p = params(1, 8, 50, 16, 200);
    struct otf_sched *s = otf_sched_new(&p);
    struct otf_sched_job q[] = {job("a", NULL, "m1", "FP32", 100 * MS, 1),
                                job("b", NULL, "m2", "FP32", 50 * MS, 1),
                                job("c", NULL, "m2", "BF16", 10 * MS, 1)};
    static struct otf_sched_decision d;
    (void)state;
    /* Nothing loaded: the key with the oldest job wins; precision is part of the key. */
    otf_sched_pick_batch(s, q, 3, 1000 * MS, &d);
    assert_int_equal(d.n_jobs, 1);
    assert_string_equal(d.model, "m2");
    assert_string_equal(d.precision, "BF16");
    /* m1 loaded 100 ms ago (< hold): it keeps the worker although m2 is older. */
    assert_false(otf_sched_is_loaded(s, "m1", "FP32"));
    otf_sched_set_loaded(s, "m1", "FP32", 900 * MS);
    assert_true(otf_sched_is_loaded(s, "m1", "FP32"));
    assert_true(otf_sched_is_loaded(s, "m1", NULL)); /* absent precision is FP32 */
    assert_false(otf_sched_is_loaded(s, "m1", "BF16"));
    otf_sched_pick_batch(s, q, 3, 1000 * MS, &d);
    assert_string_equal(d.model, "m1");
    assert_int_equal(d.is_switch, 0);
    /* After hold_ms the oldest waiting key gets its turn. */
    otf_sched_pick_batch(s, q, 3, 1200 * MS, &d);
    assert_string_equal(d.model, "m2");
    assert_int_equal(d.is_switch, 1);
    otf_sched_free(s);
}

static void test_join_running_batch(void **state)
{
    struct otf_sched_params p = params(1, 4, 50, 16, 200);
    struct otf_sched *s = otf_sched_new(&p);
    struct otf_sched_job q[] = {job("a1", "alice", "m1", "FP32", 100 * MS, 16),
                                job("a2", "alice", "m1", "FP32", 110 * MS, 16),
                                job("b1", "bob", "m1", "FP32", 120 * MS, 16),
                                job("x", NULL, "m2", "FP32", 50 * MS, 16)};
    static struct otf_sched_decision d;
    (void)state;
    /* m1 runs (loaded at 900 ms) with room for 2 more jobs: its queued jobs join, across owners
     * (alice's oldest, then bob's), never m2's. */
    otf_sched_set_loaded(s, "m1", "FP32", 900 * MS);
    otf_sched_pick_join(s, q, 4, 1000 * MS, "m1", "FP32", 2, &d);
    assert_int_equal(d.n_jobs, 2);
    assert_string_equal(q[d.job_idx[0]].id, "a1");
    assert_string_equal(q[d.job_idx[1]].id, "b1");
    assert_int_equal(d.wake_at_us, 0);
    /* No room, or a key without queued jobs: nothing. */
    otf_sched_pick_join(s, q, 4, 1000 * MS, "m1", "FP32", 0, &d);
    assert_int_equal(d.n_jobs, 0);
    otf_sched_pick_join(s, q, 4, 1000 * MS, "m1", "BF16", 4, &d);
    assert_int_equal(d.n_jobs, 0);
    /* Room beyond max_jobs is capped. */
    otf_sched_pick_join(s, q, 3, 1000 * MS, "m1", "FP32", 100, &d);
    assert_int_equal(d.n_jobs, 3);
    /* Past hold_ms, m2's job (older than m1's) has its turn: m1 takes no more jobs. */
    otf_sched_pick_join(s, q, 4, 1200 * MS, "m1", "FP32", 2, &d);
    assert_int_equal(d.n_jobs, 0);
    /* ... unless m1's job is the oldest waiting (FIFO across keys). */
    q[3].queued_us = 130 * MS;
    otf_sched_pick_join(s, q, 4, 1200 * MS, "m1", "FP32", 1, &d);
    assert_int_equal(d.n_jobs, 1);
    otf_sched_free(s);
}

static void test_join_after_idle_workers(void **state)
{
    /* join_after_ms 50: a job queued at 1000 ms joins from 1050 ms on, not before. */
    struct otf_sched_params p = params(1, 8, 0, 16, 200);
    struct otf_sched *s;
    struct otf_sched_job q[] = {job("a", NULL, "m1", "FP32", 1000 * MS, 16)};
    static struct otf_sched_decision d;
    (void)state;
    p.join_after_ms = 50;
    s = otf_sched_new(&p);
    otf_sched_set_loaded(s, "m1", "FP32", 900 * MS);
    otf_sched_pick_join(s, q, 1, 1049 * MS, "m1", "FP32", 7, &d);
    assert_int_equal(d.n_jobs, 0);
    otf_sched_pick_join(s, q, 1, 1050 * MS, "m1", "FP32", 7, &d);
    assert_int_equal(d.n_jobs, 1);
    /* A new batch is not held back by it. */
    otf_sched_pick_batch(s, q, 1, 1001 * MS, &d);
    assert_int_equal(d.n_jobs, 1);
    otf_sched_free(s);
}

static void test_join_respects_min_jobs(void **state)
{
    /* min_jobs 3, max_wait 50 ms: one queued job joins only once it has waited max_wait_ms. */
    struct otf_sched_params p = params(3, 8, 50, 16, 200);
    struct otf_sched *s = otf_sched_new(&p);
    struct otf_sched_job q[] = {job("a", NULL, "m1", "FP32", 1000 * MS, 16)};
    static struct otf_sched_decision d;
    (void)state;
    otf_sched_set_loaded(s, "m1", "FP32", 900 * MS);
    otf_sched_pick_join(s, q, 1, 1010 * MS, "m1", "FP32", 7, &d);
    assert_int_equal(d.n_jobs, 0);
    assert_int_equal(d.wake_at_us, 0);
    otf_sched_pick_join(s, q, 1, 1050 * MS, "m1", "FP32", 7, &d);
    assert_int_equal(d.n_jobs, 1);
    otf_sched_free(s);
}

static void test_owner_fairness(void **state)
{
    /* Owner A floods 20 jobs first; B's 2 jobs still make the first batch. */
    struct otf_sched_params p = params(1, 4, 50, 16, 200);
    struct otf_sched *s = otf_sched_new(&p);
    struct otf_sched_job q[22];
    static struct otf_sched_decision d;
    int n_b = 0;
    (void)state;
    for (int i = 0; i < 20; i++)
        q[i] = job("a", "alice", "demo", "FP32", (int64_t)i * MS, 16);
    q[20] = job("b1", "bob", "demo", "FP32", 100 * MS, 16);
    q[21] = job("b2", "bob", "demo", "FP32", 101 * MS, 16);
    otf_sched_pick_batch(s, q, 22, 1000 * MS, &d);
    assert_int_equal(d.n_jobs, 4);
    for (size_t i = 0; i < d.n_jobs; i++)
        n_b += strcmp(q[d.job_idx[i]].owner, "bob") == 0;
    assert_int_equal(n_b, 2);
    otf_sched_free(s);
}

static void test_fairness_by_patches(void **state)
{
    /* Alice's jobs cost 64 patches, Bob's 16: with quantum 16, Bob gets 4 jobs per Alice job. */
    struct otf_sched_params p = params(1, 5, 50, 16, 200);
    struct otf_sched *s = otf_sched_new(&p);
    struct otf_sched_job q[12];
    static struct otf_sched_decision d;
    int n_b = 0;
    (void)state;
    for (int i = 0; i < 6; i++)
        q[i] = job("a", "alice", "demo", "FP32", (int64_t)i * MS, 64);
    for (int i = 0; i < 6; i++)
        q[6 + i] = job("b", "bob", "demo", "FP32", (int64_t)(10 + i) * MS, 16);
    otf_sched_pick_batch(s, q, 12, 1000 * MS, &d);
    assert_int_equal(d.n_jobs, 5);
    for (size_t i = 0; i < d.n_jobs; i++)
        n_b += strcmp(q[d.job_idx[i]].owner, "bob") == 0;
    assert_int_equal(n_b, 4);
    otf_sched_free(s);
}

static void test_microbatch_one_owner_in_order(void **state)
{
    struct otf_sched_stream st[] = {{"o", 10}, {"o", 10}, {"o", 10}};
    int64_t def[3] = {0}, take[3];
    (void)state;
    assert_int_equal(otf_sched_fill_microbatch(st, 3, 16, def, take), 16);
    assert_int_equal(take[0], 10); /* images of one size: the first finishes first */
    assert_int_equal(take[1], 6);
    assert_int_equal(take[2], 0);
    st[0].remaining = 0;
    st[1].remaining = 4;
    assert_int_equal(otf_sched_fill_microbatch(st, 3, 16, def, take), 14);
    assert_int_equal(take[1], 4); /* the started image goes on before the next */
    assert_int_equal(take[2], 10);
    st[1].remaining = st[2].remaining = 0;
    assert_int_equal(otf_sched_fill_microbatch(st, 3, 16, def, take), 0);
}

static void test_microbatch_one_owner_shortest_first(void **state)
{
    /* A large image runs; two small ones join behind it: they go first, the smaller first. */
    struct otf_sched_stream st[] = {{"o", 1000}, {"o", 20}, {"o", 5}};
    int64_t def[3] = {0}, take[3];
    (void)state;
    assert_int_equal(otf_sched_fill_microbatch(st, 3, 16, def, take), 16);
    assert_int_equal(take[2], 5);
    assert_int_equal(take[1], 11);
    assert_int_equal(take[0], 0);
    st[2].remaining = 0;
    st[1].remaining = 9;
    assert_int_equal(otf_sched_fill_microbatch(st, 3, 16, def, take), 16);
    assert_int_equal(take[1], 9);
    assert_int_equal(take[0], 7);
}

static void test_microbatch_two_owners_share(void **state)
{
    struct otf_sched_stream st[] = {{"a", 100}, {"b", 100}};
    int64_t def[2] = {0}, take[2];
    (void)state;
    assert_int_equal(otf_sched_fill_microbatch(st, 2, 16, def, take), 16);
    assert_int_equal(take[0], 8);
    assert_int_equal(take[1], 8);
    /* When one owner has little left, the other uses the rest of the micro-batch. */
    st[0].remaining = 2;
    assert_int_equal(otf_sched_fill_microbatch(st, 2, 16, def, take), 16);
    assert_int_equal(take[0], 2);
    assert_int_equal(take[1], 14);
}

static void test_lru(void **state)
{
    struct otf_sched_lru *l = otf_sched_lru_new(2, 100);
    char *ev[4];
    size_t n;
    (void)state;
    assert_int_equal(otf_sched_lru_touch(l, "a", 40, ev, 4), 0);
    assert_int_equal(otf_sched_lru_touch(l, "b", 40, ev, 4), 0);
    assert_int_equal(otf_sched_lru_touch(l, "a", 40, ev, 4), 0); /* a is now most recent */
    n = otf_sched_lru_touch(l, "c", 10, ev, 4);                  /* count limit: evict b */
    assert_int_equal(n, 1);
    assert_string_equal(ev[0], "b");
    free(ev[0]);
    assert_true(otf_sched_lru_has(l, "a"));
    assert_true(otf_sched_lru_has(l, "c"));
    n = otf_sched_lru_touch(l, "d", 95, ev, 4); /* budget: both others go */
    assert_int_equal(n, 2);
    free(ev[0]);
    free(ev[1]);
    assert_int_equal(otf_sched_lru_count(l), 1);
    n = otf_sched_lru_touch(l, "huge", 500, ev, 4); /* larger than the budget: alone */
    assert_int_equal(n, 1);
    free(ev[0]);
    assert_true(otf_sched_lru_has(l, "huge"));
    assert_int_equal(otf_sched_lru_bytes(l), 500);
    otf_sched_lru_remove(l, "huge");
    assert_int_equal(otf_sched_lru_count(l), 0);
    otf_sched_lru_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lone_job_runs_at_once),
        cmocka_unit_test(test_min_jobs_waits_until_max_wait),
        cmocka_unit_test(test_max_jobs_caps_batch),
        cmocka_unit_test(test_keys_fifo_and_hold),
        cmocka_unit_test(test_join_running_batch),
        cmocka_unit_test(test_join_respects_min_jobs),
        cmocka_unit_test(test_join_after_idle_workers),
        cmocka_unit_test(test_owner_fairness),
        cmocka_unit_test(test_fairness_by_patches),
        cmocka_unit_test(test_microbatch_one_owner_in_order),
        cmocka_unit_test(test_microbatch_one_owner_shortest_first),
        cmocka_unit_test(test_microbatch_two_owners_share),
        cmocka_unit_test(test_lru),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
