/* Batch formation: keys, readiness, model stickiness and per-owner fairness (see sched.h). The
 * queue seen here is small (bounded by queue.max_jobs), so plain O(n * keys) scans are used. */
#include "sched/sched.h"

#include <stdlib.h>
#include <string.h>

struct owner_deficit {
    char *owner; /* "" for anonymous */
    int64_t deficit;
};

struct otf_sched {
    struct otf_sched_params p;
    char *loaded_model;
    char *loaded_precision;
    int64_t loaded_since_us;
    struct owner_deficit *deficits; /* persistent DRR state across decisions */
    size_t n_deficits;
};

struct key_stat {
    const char *model, *precision;
    size_t n;
    int64_t oldest_us;
};

static int str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static const char *prec_of(const struct otf_sched_job *j)
{
    return j->precision ? j->precision : "FP32";
}

/* A job's DRR cost: its patches, or one quantum when its size is not known yet (a queued job's
 * patches are counted once a worker has opened its image). Counting unknown jobs as one patch let
 * the first owner fill a whole batch from a single quantum, every time, and starve the others. */
static int64_t cost_of(const struct otf_sched *s, const struct otf_sched_job *j)
{
    return j->n_patches > 0 ? j->n_patches : s->p.max_patches;
}

struct otf_sched *otf_sched_new(const struct otf_sched_params *p)
{
    struct otf_sched *s = otf_xcalloc(1, sizeof *s);
    s->p = *p;
    if (s->p.max_jobs < 1)
        s->p.max_jobs = 1;
    if (s->p.max_jobs > OTF_SCHED_MAX_BATCH)
        s->p.max_jobs = OTF_SCHED_MAX_BATCH;
    if (s->p.min_jobs < 1)
        s->p.min_jobs = 1;
    if (s->p.max_patches < 1)
        s->p.max_patches = 1;
    return s;
}

void otf_sched_free(struct otf_sched *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_deficits; i++)
        free(s->deficits[i].owner);
    free(s->deficits);
    free(s->loaded_model);
    free(s->loaded_precision);
    free(s);
}

void otf_sched_set_loaded(struct otf_sched *s, const char *model, const char *precision,
                          int64_t since_us)
{
    free(s->loaded_model);
    free(s->loaded_precision);
    s->loaded_model = model ? otf_xstrdup(model) : NULL;
    s->loaded_precision = model ? otf_xstrdup(precision ? precision : "FP32") : NULL;
    s->loaded_since_us = since_us;
}

int otf_sched_is_loaded(const struct otf_sched *s, const char *model, const char *precision)
{
    return s->loaded_model && str_eq(s->loaded_model, model) &&
           str_eq(s->loaded_precision, precision ? precision : "FP32");
}

static int64_t *deficit_slot(struct otf_sched *s, const char *owner)
{
    const char *o = owner ? owner : "";
    for (size_t i = 0; i < s->n_deficits; i++) {
        if (strcmp(s->deficits[i].owner, o) == 0)
            return &s->deficits[i].deficit;
    }
    s->deficits = otf_xrealloc(s->deficits, (s->n_deficits + 1) * sizeof *s->deficits);
    s->deficits[s->n_deficits].owner = otf_xstrdup(o);
    s->deficits[s->n_deficits].deficit = 0;
    return &s->deficits[s->n_deficits++].deficit;
}

static int key_ready(const struct otf_sched *s, const struct key_stat *k, int64_t now_us)
{
    return k->n >= (size_t)s->p.max_jobs || k->n >= (size_t)s->p.min_jobs ||
           now_us - k->oldest_us >= (int64_t)s->p.max_wait_ms * 1000;
}

static int job_before(const struct otf_sched_job *a, size_t ia, const struct otf_sched_job *b,
                      size_t ib)
{
    if (a->queued_us != b->queued_us)
        return a->queued_us < b->queued_us;
    return ia < ib;
}

/* Deficit round robin across the owners of one key (quantum = max_patches patches), up to
 * `limit` jobs. */
static void take_fair(struct otf_sched *s, const struct otf_sched_job *jobs, size_t n,
                      const struct key_stat *k, size_t limit, struct otf_sched_decision *d)
{
    size_t *idx = otf_xmalloc((k->n ? k->n : 1) * sizeof *idx);
    char *used = otf_xcalloc(k->n ? k->n : 1, 1);
    const char **owners = otf_xmalloc((k->n ? k->n : 1) * sizeof *owners);
    size_t m = 0, n_owners = 0, left;

    for (size_t i = 0; i < n; i++) {
        if (jobs[i].model && str_eq(jobs[i].model, k->model) &&
            str_eq(prec_of(&jobs[i]), k->precision))
            idx[m++] = i;
    }
    /* Oldest first (insertion sort: m is small). */
    for (size_t a = 1; a < m; a++) {
        size_t v = idx[a], b = a;
        while (b > 0 && job_before(&jobs[v], v, &jobs[idx[b - 1]], idx[b - 1])) {
            idx[b] = idx[b - 1];
            b--;
        }
        idx[b] = v;
    }
    /* Owners in the order of their oldest job. */
    for (size_t a = 0; a < m; a++) {
        const char *o = jobs[idx[a]].owner;
        size_t b;
        for (b = 0; b < n_owners && !str_eq(owners[b], o); b++)
            ;
        if (b == n_owners)
            owners[n_owners++] = o;
    }
    left = m;
    while (left > 0 && d->n_jobs < limit) {
        for (size_t o = 0; o < n_owners && d->n_jobs < limit; o++) {
            int64_t *def = deficit_slot(s, owners[o]);
            int has = 0;
            *def += s->p.max_patches;
            for (size_t a = 0; a < m && d->n_jobs < limit; a++) {
                const struct otf_sched_job *j = &jobs[idx[a]];
                if (used[a] || !str_eq(j->owner, owners[o]))
                    continue;
                has = 1;
                if (cost_of(s, j) > *def)
                    break; /* this owner waits for more quantum (next round) */
                *def -= cost_of(s, j);
                used[a] = 1;
                left--;
                d->job_idx[d->n_jobs++] = idx[a];
            }
            if (!has)
                *def = 0; /* an owner with nothing queued keeps no credit (DRR) */
        }
    }
    /* Owners whose queue is now empty lose their credit. */
    for (size_t o = 0; o < n_owners; o++) {
        int has = 0;
        for (size_t a = 0; a < m; a++)
            has |= !used[a] && str_eq(jobs[idx[a]].owner, owners[o]);
        if (!has)
            *deficit_slot(s, owners[o]) = 0;
    }
    free(idx);
    free(used);
    free(owners);
}

/* The decision of otf_sched_pick_batch, taking at most `limit` jobs; with `model` set, only when
 * the decision is that key (otf_sched_pick_join). */
static void pick(struct otf_sched *s, const struct otf_sched_job *jobs, size_t n, int64_t now_us,
                 size_t limit, const char *model, const char *precision,
                 struct otf_sched_decision *d)
{
    struct key_stat *keys = otf_xcalloc(n ? n : 1, sizeof *keys);
    size_t nk = 0;
    const struct key_stat *best = NULL, *loaded = NULL;
    int other_ready = 0;

    d->n_jobs = 0;
    d->model = d->precision = NULL;
    d->wake_at_us = 0;
    d->is_switch = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        if (!jobs[i].model)
            continue;
        for (k = 0; k < nk; k++) {
            if (str_eq(keys[k].model, jobs[i].model) &&
                str_eq(keys[k].precision, prec_of(&jobs[i])))
                break;
        }
        if (k == nk) {
            keys[nk].model = jobs[i].model;
            keys[nk].precision = prec_of(&jobs[i]);
            keys[nk].oldest_us = jobs[i].queued_us;
            nk++;
        }
        keys[k].n++;
        if (jobs[i].queued_us < keys[k].oldest_us)
            keys[k].oldest_us = jobs[i].queued_us;
    }
    for (size_t k = 0; k < nk; k++) {
        int is_loaded = s->loaded_model && str_eq(keys[k].model, s->loaded_model) &&
                        str_eq(keys[k].precision, s->loaded_precision);
        if (!key_ready(s, &keys[k], now_us)) {
            int64_t t = keys[k].oldest_us + (int64_t)s->p.max_wait_ms * 1000;
            if (d->wake_at_us == 0 || t < d->wake_at_us)
                d->wake_at_us = t;
            continue;
        }
        if (is_loaded)
            loaded = &keys[k];
        else
            other_ready = 1;
        if (!best || keys[k].oldest_us < best->oldest_us)
            best = &keys[k];
    }
    /* Stay on the loaded model while it is busy, for hold_ms, or while nobody else is ready. */
    if (loaded && (!other_ready || now_us - s->loaded_since_us < (int64_t)s->p.hold_ms * 1000))
        best = loaded;
    /* A join takes the running key's jobs only, and only once its oldest has waited
     * join_after_ms: an idle worker would have claimed them by then. */
    if (best && model &&
        (!(str_eq(best->model, model) && str_eq(best->precision, precision)) ||
         now_us - best->oldest_us < (int64_t)s->p.join_after_ms * 1000))
        best = NULL;
    if (best) {
        d->model = best->model;
        d->precision = best->precision;
        d->is_switch = best != loaded;
        take_fair(s, jobs, n, best, limit, d);
        d->wake_at_us = 0;
    }
    free(keys);
}

void otf_sched_pick_batch(struct otf_sched *s, const struct otf_sched_job *jobs, size_t n,
                          int64_t now_us, struct otf_sched_decision *d)
{
    pick(s, jobs, n, now_us, (size_t)s->p.max_jobs, NULL, NULL, d);
}

void otf_sched_pick_join(struct otf_sched *s, const struct otf_sched_job *jobs, size_t n,
                         int64_t now_us, const char *model, const char *precision, size_t room,
                         struct otf_sched_decision *d)
{
    if (room > (size_t)s->p.max_jobs)
        room = (size_t)s->p.max_jobs;
    pick(s, jobs, n, now_us, room, model ? model : "", precision ? precision : "FP32", d);
    if (d->n_jobs == 0)
        d->wake_at_us = 0; /* a running batch asks again at its next micro-batch */
}

int64_t otf_sched_fill_microbatch(const struct otf_sched_stream *streams, size_t n,
                                  int64_t max_patches, int64_t *deficit, int64_t *take)
{
    int64_t cap = max_patches, total = 0;
    size_t *first = otf_xmalloc((n ? n : 1) * sizeof *first); /* owner -> its first stream */
    size_t n_owners = 0;

    for (size_t i = 0; i < n; i++) {
        size_t o;
        take[i] = 0;
        for (o = 0; o < n_owners && !str_eq(streams[first[o]].owner, streams[i].owner); o++)
            ;
        if (o == n_owners)
            first[n_owners++] = i;
    }
    while (cap > 0) {
        size_t active = 0;
        int progressed = 0;
        for (size_t o = 0; o < n_owners; o++) {
            for (size_t i = first[o]; i < n; i++) {
                if (str_eq(streams[i].owner, streams[first[o]].owner) &&
                    streams[i].remaining - take[i] > 0) {
                    active++;
                    break;
                }
            }
        }
        if (active == 0)
            break;
        for (size_t o = 0; o < n_owners && cap > 0; o++) {
            int64_t *def = &deficit[first[o]];
            int64_t quantum = max_patches / (int64_t)active;
            int64_t owner_left = 0;
            if (quantum < 1)
                quantum = 1;
            for (size_t i = first[o]; i < n; i++) {
                if (str_eq(streams[i].owner, streams[first[o]].owner))
                    owner_left += streams[i].remaining - take[i];
            }
            if (owner_left <= 0) {
                *def = 0;
                continue;
            }
            *def += quantum;
            /* Give this owner's credit to one image at a time, the one with the fewest patches
             * left first (the earlier one on a tie): images of one size go in order, and a small
             * image that joins behind a large one is not held for the large one's minutes. */
            while (cap > 0 && *def > 0) {
                size_t best = n;
                int64_t g = 0;
                for (size_t i = first[o]; i < n; i++) {
                    int64_t left = streams[i].remaining - take[i];
                    if (left > 0 && (best == n || left < g) &&
                        str_eq(streams[i].owner, streams[first[o]].owner)) {
                        best = i;
                        g = left;
                    }
                }
                if (best == n)
                    break;
                if (g > *def)
                    g = *def;
                if (g > cap)
                    g = cap;
                take[best] += g;
                *def -= g;
                cap -= g;
                total += g;
                progressed = 1;
            }
        }
        if (!progressed)
            break;
    }
    free(first);
    return total;
}

/* ---- residency ---- */

struct lru_entry {
    char *key;
    int64_t bytes;
    uint64_t last_use;
};

struct otf_sched_lru {
    int max_models;
    int64_t budget_bytes;
    struct lru_entry *e;
    size_t n;
    uint64_t clock;
};

struct otf_sched_lru *otf_sched_lru_new(int max_models, int64_t budget_bytes)
{
    struct otf_sched_lru *l = otf_xcalloc(1, sizeof *l);
    l->max_models = max_models < 1 ? 1 : max_models;
    l->budget_bytes = budget_bytes;
    return l;
}

void otf_sched_lru_free(struct otf_sched_lru *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].key);
    free(l->e);
    free(l);
}

static size_t lru_find(const struct otf_sched_lru *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->e[i].key, key) == 0)
            return i;
    }
    return (size_t)-1;
}

int otf_sched_lru_has(const struct otf_sched_lru *l, const char *key)
{
    return lru_find(l, key) != (size_t)-1;
}

void otf_sched_lru_remove(struct otf_sched_lru *l, const char *key)
{
    size_t i = lru_find(l, key);
    if (i == (size_t)-1)
        return;
    free(l->e[i].key);
    l->e[i] = l->e[--l->n];
}

size_t otf_sched_lru_count(const struct otf_sched_lru *l)
{
    return l->n;
}

int64_t otf_sched_lru_bytes(const struct otf_sched_lru *l)
{
    int64_t b = 0;
    for (size_t i = 0; i < l->n; i++)
        b += l->e[i].bytes;
    return b;
}

size_t otf_sched_lru_touch(struct otf_sched_lru *l, const char *key, int64_t bytes, char **evicted,
                           size_t max_evicted)
{
    size_t i = lru_find(l, key), n_ev = 0;

    if (i == (size_t)-1) {
        l->e = otf_xrealloc(l->e, (l->n + 1) * sizeof *l->e);
        i = l->n++;
        l->e[i].key = otf_xstrdup(key);
        l->e[i].bytes = bytes;
    }
    l->e[i].last_use = ++l->clock;
    while (l->n > 1 && ((int)l->n > l->max_models || otf_sched_lru_bytes(l) > l->budget_bytes)) {
        size_t victim = (size_t)-1;
        for (size_t k = 0; k < l->n; k++) {
            if (strcmp(l->e[k].key, key) == 0)
                continue; /* never the model being used */
            if (victim == (size_t)-1 || l->e[k].last_use < l->e[victim].last_use)
                victim = k;
        }
        if (victim == (size_t)-1)
            break;
        if (n_ev < max_evicted)
            evicted[n_ev++] = l->e[victim].key;
        else
            free(l->e[victim].key);
        l->e[victim] = l->e[--l->n];
    }
    return n_ev;
}
