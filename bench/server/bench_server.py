#!/usr/bin/python3
"""Server throughput and batching benchmark: one scenario per call, the real otfd (Release) with
its worker processes on 127.0.0.1, N jobs submitted at once over HTTP, and one JSON line out.

    bench_server.py --otfd build/release/bin/otfd --models DIR --image IMG.fits \\
        --jobs 16 --model sdc1 [--model2 sdc1b] [--precision BF16] [--max-jobs 8] \\
        [--max-patches 16] [--max-resident 2] [--sequential] [--label NAME]

Measured: wall time from the first submission to the last job's end (jobs/s, patches/s over the
patches the jobs report in jobInfo), each job's latency (endTime - creationTime, as the server
records them), the worker's own counters from /metrics (batches, micro-batches, model loads and
evictions, stage seconds), and the peak RSS of otfd + its workers: the sum of each process's
VmHWM, and the largest sum of VmRSS sampled every --rss-every seconds (default 0.25; the two
bound the true joint peak).

--sequential submits the next job only when the previous one has ended (latency at low load).
--model2 alternates the jobs between two models (model-switch scenario).
--late N --late-image IMG --late-after S submits N more jobs of IMG (default --image) S seconds
after the others (a job arriving while a batch of its model runs: batch.join); their latencies
are reported apart (late_latency_*), and the throughput counts every job. --late-owner submits
them as a second owner (bearer tokens; the others are the first owner's): owners share a batch's
micro-batches, while one owner's jobs run in the order they came.
--warmup first runs one untimed job of --model, so that the timed jobs meet a resident model
(the steady state of a running service); without it the first batch also loads the model.
The client waits with UWS blocking calls (WAIT=30), one thread per job, so that it uses no CPU
the server could use while the jobs run.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from uws_harness import Multipart, Otfd  # noqa: E402

FINAL = ("COMPLETED", "ERROR", "ABORTED")


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def proc_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    """Child processes, from /proc (no subprocess: the sampler must not take the server's CPU)."""
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


class RssSampler(threading.Thread):
    def __init__(self, pid, every):
        super().__init__(daemon=True)
        self.pid = pid
        self.every = every
        self.peak_sum_rss = 0
        self.hwm = {}
        self.stop = threading.Event()

    def sample(self):
        pids = [self.pid] + children(self.pid)
        total = 0
        for p in pids:
            total += proc_kib(p, "VmRSS")
            h = proc_kib(p, "VmHWM")
            if h:
                self.hwm[p] = max(self.hwm.get(p, 0), h)
        self.peak_sum_rss = max(self.peak_sum_rss, total)

    def run(self):
        while not self.stop.is_set():
            self.sample()
            time.sleep(self.every)


def metrics(c):
    out = {}
    for line in c.get("/metrics").text().splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name = head.split("{", 1)[0]
        out[name] = out.get(name, 0.0) + float(value)
    return out


def proc_cpu_s(pid):
    """utime + stime of a process (its ended threads included), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def percentile(v, q):
    v = sorted(v)
    if not v:
        return None
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--otfd", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--model", required=True)
    ap.add_argument("--model2")
    ap.add_argument("--precision", default="BF16")
    ap.add_argument("--max-jobs", type=int, default=8)
    ap.add_argument("--max-patches", type=int, default=16)
    ap.add_argument("--max-resident", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="worker processes")
    ap.add_argument("--sequential", action="store_true")
    ap.add_argument("--warmup", action="store_true", help="one untimed job first (model resident)")
    ap.add_argument("--label", default="")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="another otfd setting, e.g. engine.helper_nice=0 (repeatable)")
    ap.add_argument("--rss-every", type=float, default=0.25,
                    help="seconds between RSS samples (default 0.25: each sample is CPU taken "
                         "from the server on these cores; VmHWM gives each process's exact peak)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="another job parameter, e.g. THRESHOLD=0.99 (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    ap.add_argument("--late", type=int, default=0, help="jobs submitted --late-after s later")
    ap.add_argument("--late-image", help="their image (default --image)")
    ap.add_argument("--late-after", type=float, default=2.0)
    ap.add_argument("--late-owner", action="store_true", help="late jobs from a second owner")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="otf-bench-server-"))
    tokens = {"first": "bench-first-0123456789", "late": "bench-late-0123456789"}
    auth = []
    if a.late_owner:
        (tmp / "tokens").write_text("".join(f"{hashlib.sha256(t.encode()).hexdigest()} {o}\n"
                                            for o, t in tokens.items()))
        auth = ["--http.tokens_file", tmp / "tokens"]
    srv = Otfd(a.otfd, tmp / "data", *auth, "--workers", a.workers, "--batch.max_jobs", a.max_jobs,
               "--batch.max_patches", a.max_patches, "--batch.min_jobs", 1,
               "--models.max_resident", a.max_resident, "--engine.threads", a.threads,
               "--queue.max_jobs", 10000, "--log_level", "warn",
               *[x for kv in a.set for x in ("--" + kv.split("=", 1)[0], kv.split("=", 1)[1])],
               models=a.models, name="bench")
    srv.start()
    c = srv.client(tokens["first"] if a.late_owner else None)
    c_late = srv.client(tokens["late"]) if a.late_owner else c
    sampler = RssSampler(srv.proc.pid, a.rss_every)
    sampler.start()
    ids = []
    try:
        models = [a.model, a.model2] if a.model2 else [a.model]

        def submit(i, image=a.image, cl=c):
            mp = Multipart()
            mp.field("MODEL", models[i % len(models)])
            mp.field("PRECISION", a.precision)
            for kv in a.param:
                mp.field(*kv.split("=", 1))
            mp.field("PHASE", "RUN")
            mp.file("image", "image.fits", path=image)
            r = cl.post_multipart("/jobs", mp, timeout=600)
            if r.status != 303:
                raise RuntimeError(f"submission refused: {r}")
            return r.header("Location").rsplit("/", 1)[1]

        def wait_final(j, cl=c):
            # UWS 1.1 blocking: returns when the phase leaves the given one (or after 30 s)
            ph = "PENDING"
            while ph not in FINAL:
                d = cl.get(f"/jobs/{j}", params={"WAIT": "30", "PHASE": ph},
                          accept="application/json", timeout=60).json()
                ph = d["phase"]

        if a.warmup:
            wait_final(submit(0))
        m0 = metrics(c)
        otfd_cpu0 = proc_cpu_s(srv.proc.pid)
        client_cpu0 = sum(os.times()[:2])
        t0 = time.time()
        if a.sequential:
            for i in range(a.jobs):
                j = submit(i)
                ids.append(j)
                wait_final(j)
        else:
            ids = [None] * (a.jobs + a.late)

            def one(i):
                cl = c if i < a.jobs else c_late
                ids[i] = submit(i) if i < a.jobs else submit(0, a.late_image or a.image, cl)
                wait_final(ids[i], cl)
            th = [threading.Thread(target=one, args=(i,)) for i in range(a.jobs + a.late)]
            for i, t in enumerate(th):
                if i == a.jobs:
                    time.sleep(a.late_after)
                t.start()
            for t in th:
                t.join()
        t_end = time.time()
        otfd_cpu = proc_cpu_s(srv.proc.pid) - otfd_cpu0
        client_cpu = sum(os.times()[:2]) - client_cpu0
        docs = [(c if i < a.jobs else c_late).get(f"/jobs/{j}", accept="application/json").json()
                for i, j in enumerate(ids)]
        m = metrics(c)
        sampler.stop.set()
        sampler.join()
        sampler.sample()
    finally:
        srv.stop()
    bad = [d for d in docs if d["phase"] != "COMPLETED"]
    if bad:
        print(json.dumps({"error": "jobs did not complete", "jobs": bad[:3]}), file=sys.stderr)
        print(srv.log_tail(), file=sys.stderr)
        sys.exit(1)
    created = [parse_time(d["creationTime"]) for d in docs]
    ended = [parse_time(d["endTime"]) for d in docs]
    lat = [e - s for s, e in zip(created, ended)]
    late, lat = lat[a.jobs:], lat[:a.jobs]
    run = [parse_time(d["endTime"]) - parse_time(d["startTime"]) for d in docs]
    patches = sum(d["jobInfo"]["patchesTotal"] for d in docs)
    # Throughput over the server's own span (first creation to last end) and the client's.
    span = max(ended) - min(created)
    wall = t_end - t0
    out = {
        "label": a.label, "jobs": len(docs), "model": a.model, "model2": a.model2,
        "precision": a.precision, "max_jobs": a.max_jobs, "max_patches": a.max_patches,
        "max_resident": a.max_resident, "sequential": a.sequential, "warmup": a.warmup,
        "settings": a.set, "params": a.param,
        "patches": patches, "patches_per_job": patches / len(docs),
        "span_s": round(span, 3), "wall_s": round(wall, 3),
        "jobs_per_s": round(len(docs) / span, 4), "patches_per_s": round(patches / span, 3),
        "latency_p50_s": round(percentile(lat, 0.5), 3),
        "latency_p99_s": round(percentile(lat, 0.99), 3),
        "latency_max_s": round(max(lat), 3),
        **({"late": a.late, "late_after_s": a.late_after,
            "late_latency_p50_s": round(percentile(late, 0.5), 3),
            "late_latency_max_s": round(max(late), 3)} if late else {}),
        "run_p50_s": round(percentile(run, 0.5), 3),
        "batches": m.get("otf_batches_total"), "batch_jobs": m.get("otf_batch_jobs_total"),
        "microbatches": m.get("otf_microbatches_total"),
        "worker_patches": m.get("otf_patches_total"),
        "model_loads": m.get("otf_model_loads_total"),
        "model_evictions": m.get("otf_model_evictions_total"),
        "stage_s": {k[len("otf_stage_"):-len("_seconds_total")]: round(v, 3)
                    for k, v in m.items()
                    if k.startswith("otf_stage_") and not k.endswith("_cpu_seconds_total")},
        # CPU seconds of the timed jobs alone (the warm-up's are subtracted): the stages beside
        # the forward pass (thread CPU clocks), the worker process (every thread), otfd (HTTP
        # threads: uploads, WAIT answers, store) and this client.
        "stage_cpu_s": {k[len("otf_stage_"):-len("_cpu_seconds_total")]:
                        round(v - m0.get(k, 0.0), 3)
                        for k, v in m.items() if k.endswith("_cpu_seconds_total")
                        and k.startswith("otf_stage_")},
        "worker_cpu_s": round(m.get("otf_worker_cpu_seconds_total", 0)
                              - m0.get("otf_worker_cpu_seconds_total", 0), 3),
        "otfd_cpu_s": round(otfd_cpu, 3),
        "client_cpu_s": round(client_cpu, 3),
        "busy_s": round(m.get("otf_worker_busy_seconds_total", 0), 3),
        "rss_sum_hwm_mib": round(sum(sampler.hwm.values()) / 1024, 1),
        "rss_peak_sampled_mib": round(sampler.peak_sum_rss / 1024, 1),
        "load": open("/proc/loadavg").read().split()[:3],
    }
    print(json.dumps(out))
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
