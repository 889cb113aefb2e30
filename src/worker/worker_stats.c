/* Worker counters in a shared file: the worker maps it read-write and updates atomics; otfd maps
 * it read-only to render /metrics. A file (not shared memory inherited at fork) works for any
 * process that can see the data directory. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "worker/worker.h"

enum otf_status otf_worker_stats_open(const char *path, int create, struct otf_worker_stats **out,
                                      struct otf_errbuf *eb)
{
    int fd = open(path, create ? (O_RDWR | O_CREAT | O_CLOEXEC) : (O_RDONLY | O_CLOEXEC), 0644);
    struct otf_worker_stats *s;

    if (fd < 0)
        return OTF_FAIL(eb, errno == ENOENT ? OTF_E_NOTFOUND : OTF_E_IO, "open %s: %s", path,
                        strerror(errno));
    if (create && ftruncate(fd, sizeof *s) != 0) {
        int e = errno;
        close(fd);
        return OTF_FAIL(eb, OTF_E_IO, "size %s: %s", path, strerror(e));
    }
    if (!create) {
        off_t len = lseek(fd, 0, SEEK_END);
        if (len < (off_t)sizeof *s) {
            close(fd);
            return OTF_FAIL(eb, OTF_E_FORMAT, "%s: too short for worker counters", path);
        }
    }
    s = mmap(NULL, sizeof *s, create ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (s == MAP_FAILED)
        return OTF_FAIL(eb, OTF_E_IO, "map %s: %s", path, strerror(errno));
    if (create) {
        memset(s, 0, sizeof *s);
        s->magic = OTF_WORKER_STATS_MAGIC;
        s->pid = (int64_t)getpid();
    } else if (s->magic != OTF_WORKER_STATS_MAGIC) {
        munmap(s, sizeof *s);
        return OTF_FAIL(eb, OTF_E_FORMAT, "%s: not a worker counters file", path);
    }
    *out = s;
    return OTF_OK;
}

void otf_worker_stats_close(struct otf_worker_stats *s)
{
    if (s)
        munmap(s, sizeof *s);
}

struct family {
    const char *name, *type, *help;
    size_t offset;
    double scale; /* value * scale is printed (us -> s) */
};

#define F(n, t, h, field, sc)                                                                      \
    {                                                                                              \
        n, t, h, offsetof(struct otf_worker_stats, field), sc                                      \
    }

static const struct family families[] = {
    F("otf_batches_total", "counter", "Batches (jobs of one model and precision) claimed.", batches,
      1),
    F("otf_batch_jobs_total", "counter",
      "Jobs in the batches claimed (mean batch size = this "
      "/ otf_batches_total).",
      batch_jobs, 1),
    F("otf_batch_joins_total", "counter",
      "Jobs that joined a running batch of their model and precision (batch.join), counted in "
      "otf_batch_jobs_total too.",
      batch_joins, 1),
    F("otf_microbatches_total", "counter", "Forward passes run.", microbatches, 1),
    F("otf_patches_total", "counter", "Patches through the engine (rate() gives patches/s).",
      patches, 1),
    F("otf_worker_jobs_completed_total", "counter", "Jobs completed.", jobs_completed, 1),
    F("otf_worker_jobs_failed_total", "counter", "Jobs ended in ERROR.", jobs_failed, 1),
    F("otf_worker_jobs_dropped_total", "counter",
      "Running jobs stopped because they were aborted, deleted or ran out of time.", jobs_aborted,
      1),
    F("otf_model_loads_total", "counter", "Models loaded.", model_loads, 1),
    F("otf_model_evictions_total", "counter", "Resident models evicted.", model_evictions, 1),
    F("otf_stage_setup_seconds_total", "counter", "Time opening images, WCS, bounds, tiling.",
      setup_us, 1e-6),
    F("otf_stage_read_seconds_total", "counter", "Time reading and normalising patches.", read_us,
      1e-6),
    F("otf_stage_forward_seconds_total", "counter", "Time in engine forward passes.", forward_us,
      1e-6),
    F("otf_stage_collect_seconds_total", "counter", "Time in thresholds and the first NMS.",
      collect_us, 1e-6),
    F("otf_stage_finish_seconds_total", "counter", "Time in the second NMS and catalogues.",
      finish_us, 1e-6),
    F("otf_stage_write_seconds_total", "counter", "Time writing result files.", write_us, 1e-6),
    F("otf_stage_load_seconds_total", "counter", "Time loading models.", load_us, 1e-6),
    F("otf_worker_busy_seconds_total", "counter", "Time spent running batches.", busy_us, 1e-6),
    F("otf_stage_setup_cpu_seconds_total", "counter", "CPU time of the setup stage.", setup_cpu_us,
      1e-6),
    F("otf_stage_read_cpu_seconds_total", "counter", "CPU time of the read stage.", read_cpu_us,
      1e-6),
    F("otf_stage_collect_cpu_seconds_total", "counter", "CPU time of the collect stage.",
      collect_cpu_us, 1e-6),
    F("otf_stage_finish_cpu_seconds_total", "counter", "CPU time of the finish stage.",
      finish_cpu_us, 1e-6),
    F("otf_stage_write_cpu_seconds_total", "counter", "CPU time of the write stage.", write_cpu_us,
      1e-6),
    F("otf_worker_cpu_seconds_total", "counter",
      "CPU time of the worker process, every thread (forward passes included).", process_cpu_us,
      1e-6),
};

void otf_worker_stats_render(const struct otf_worker_stats *const *s, const char *const *ids,
                             size_t n, struct otf_buf *out)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        otf_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
                       families[f].name, families[f].type);
        for (size_t i = 0; i < n; i++) {
            const _Atomic int64_t *v =
                (const _Atomic int64_t *)((const char *)s[i] + families[f].offset);
            int64_t x = atomic_load(v);
            if (families[f].scale == 1)
                otf_buf_printf(out, "%s{worker=\"%s\"} %lld\n", families[f].name, ids[i],
                               (long long)x);
            else
                otf_buf_printf(out, "%s{worker=\"%s\"} %.6f\n", families[f].name, ids[i],
                               (double)x * families[f].scale);
        }
    }
    otf_buf_printf(out, "# HELP otf_resident_models Models resident in a worker.\n"
                        "# TYPE otf_resident_models gauge\n");
    for (size_t i = 0; i < n; i++) {
        char list[sizeof s[i]->resident + 1];
        char *p, *save = NULL;
        memcpy(list, s[i]->resident, sizeof s[i]->resident);
        list[sizeof list - 1] = '\0';
        for (p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
            otf_buf_printf(out, "otf_resident_models{worker=\"%s\",model=\"%s\"} 1\n", ids[i], p);
    }
}
