/* otfd's worker supervisor: starts `n` worker processes (this same program with --worker-id),
 * restarts one that dies, releases the jobs a dead worker held (retried once, then failed with
 * a clear summary), recovers expired leases of remote workers, and renders the workers'
 * counters for /metrics. */
#ifndef OTFD_SUPERVISOR_H
#define OTFD_SUPERVISOR_H

#include "core/core.h"

struct supervisor;

/* Starts the workers: argv (argc) is the server's own command line, passed on to each worker
 * with --worker-id added. `store_url` and `data_dir` as the server's. */
enum otf_status supervisor_start(int n_workers, int argc, char **argv, const char *store_url,
                                 const char *data_dir, struct supervisor **out,
                                 struct otf_errbuf *eb);
/* Stops the workers (SIGTERM, then SIGKILL after a grace period), requeues their jobs, frees. */
void supervisor_stop(struct supervisor *sv);
/* /metrics hook (otf_http_metrics_fn). */
void supervisor_metrics(void *user, struct otf_buf *out);

/* Runs this process as worker `worker_id` until SIGTERM; returns the exit code. */
int supervisor_worker_main(const char *worker_id, int argc, char **argv);

#endif
