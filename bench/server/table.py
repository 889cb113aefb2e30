#!/usr/bin/python3
"""Markdown tables from bench/server/run.sh's JSON lines (bench-server.jsonl)."""
import json
import statistics
import sys

ANCHOR_PPS, ANCHOR_JPS = 5.9, 0.37  # the original service, 16 x 1024^2 jobs, these 2 cores


def eng_ms(e):
    """The engine alone's milliseconds per patch over all its forward passes back to back (the
    mean: the server's patches/s is a total too); the median where a run predates the mean."""
    return e.get("ms_per_patch_mean", e["ms_per_patch_median"])


def paired(label, same, refs):
    """Each server run against the engine-alone runs just before and after it (run.sh alternates
    them, so REPS server runs sit between REPS + 1 engine runs): the host's slow drifts cancel
    in each pair, and the median of the pairs' overheads is robust to a loud moment."""
    if len(refs) != len(same) + 1:
        return
    over = sorted(100 * (1 - s["patches_per_s"] / ((1000 / eng_ms(a) + 1000 / eng_ms(b)) / 2))
                  for s, a, b in zip(same, refs, refs[1:]))
    q1, _, q3 = statistics.quantiles(over, n=4) if len(over) > 1 else (over[0],) * 3
    print(f"| {label}: overhead of each server run against the mean of the engine runs "
          f"before and after it ({len(over)} pairs) | median {statistics.median(over):.1f} %, "
          f"quartiles {q1:.1f} to {q3:.1f} %, range {over[0]:.1f} to {over[-1]:.1f} % |")


def cpu_table(srv, eng_rows):
    """CPU milliseconds per job of the server's own work (medians over the runs of a scenario):
    the stages beside the forward pass (thread CPU clocks), the rest of the worker (forward
    passes), otfd's HTTP threads and the benchmark's client, against the forward's CPU."""
    labels = [lb for lb in dict.fromkeys(r["label"] for r in srv)
              if any("stage_cpu_s" in r for r in srv if r["label"] == lb)]
    if not labels:
        return
    stages = ("setup", "read", "collect", "finish", "write")
    print()
    print("| CPU ms per job (median of runs) | " + " | ".join(stages) +
          " | worker beside the forward | forward (rest of the worker) | otfd | client "
          "| server's own / forward |")
    print("|---" * (len(stages) + 6) + "|")
    for lb in labels:
        runs = [r for r in srv if r["label"] == lb and "stage_cpu_s" in r]

        def med(f):
            return statistics.median(f(r) for r in runs)
        per = {s: med(lambda r, s=s: 1000 * r["stage_cpu_s"].get(s, 0) / r["jobs"])
               for s in stages}
        side = sum(per.values())
        fwd = med(lambda r: 1000 * r["worker_cpu_s"] / r["jobs"]) - side
        otfd = med(lambda r: 1000 * r["otfd_cpu_s"] / r["jobs"])
        client = med(lambda r: 1000 * r["client_cpu_s"] / r["jobs"])
        print(f"| {lb} | " + " | ".join(f"{per[s]:.1f}" for s in stages) +
              f" | {side:.1f} | {fwd:.0f} | {otfd:.1f} | {client:.1f} "
              f"| {100 * (side + otfd) / fwd:.1f} % |")
    print()


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    head = rows[0] if "machine" in rows[0] else {}
    eng_rows = [r for r in rows if r.get("label", "").startswith("engine")]
    eng = {r["label"]: r for r in eng_rows}
    srv = [r for r in rows if "jobs_per_s" in r]
    if head:
        print(f"Machine: {head['machine']}, {head['cpus']} CPUs, {head['date']}, "
              f"load before: {head['load']}\n")
    print("| scenario | prec | jobs | max_jobs | resident | patches | span s | jobs/s | patches/s "
          "| × anchor patches/s | p50 latency s | p99 latency s | batches | micro-batches "
          "| model loads | evictions | peak RSS MiB (Σ VmHWM / sampled Σ RSS) | load |")
    print("|" + "---|" * 18)
    for r in srv:
        print(f"| {r['label']} | {r['precision']} | {r['jobs']} | {r['max_jobs']} "
              f"| {r['max_resident']} | {r['patches']} | {r['span_s']:.1f} | {r['jobs_per_s']:.3f} "
              f"| {r['patches_per_s']:.2f} | {r['patches_per_s'] / ANCHOR_PPS:.2f} "
              f"| {r['latency_p50_s']:.2f} | {r['latency_p99_s']:.2f} | {int(r['batches'])} "
              f"| {int(r['microbatches'])} | {int(r['model_loads'])} "
              f"| {int(r['model_evictions'])} | {r['rss_sum_hwm_mib']:.0f} / "
              f"{r['rss_peak_sampled_mib']:.0f} | {' '.join(r['load'])} |")
    print()
    print("| engine alone (bench_engine, batch 16) | prec | patches | ms/patch median | "
          "ms/patch mean | patches/s (mean) | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for e in eng_rows:
        label = e["label"]
        print(f"| {label} | {e['precision']} | {e['reps'] * e['batch']} "
              f"| {e['ms_per_patch_median']:.1f} | {eng_ms(e):.1f} | {1000 / eng_ms(e):.2f} "
              f"| {e['peak_rss_mib']:.0f} |")
    print()
    print("| derived | value |")
    print("|---|---|")
    by = {r["label"]: r for r in srv}
    done = set()
    for r in srv:
        p = r["precision"].lower()
        if r["label"] in done:
            continue
        if r["label"] in (f"server-16-{p}", f"server-16-thin-{p}", f"server-16-{p}-direct"):
            stem = r["label"].replace("server-", "engine-", 1)
            refs = [e for e in eng_rows if e["label"].startswith(stem + "-r")]
        elif r["label"] == f"server-64-{p}":
            refs = [e for e in eng_rows if e["label"] == f"engine-64-{p}"]
        else:
            continue
        done.add(r["label"])
        same = [x for x in srv if x["label"] == r["label"]]
        s_pps = statistics.median(x["patches_per_s"] for x in same)
        if refs:
            e_pps = statistics.median(1000 / eng_ms(e) for e in refs)
            print(f"| {r['label']}: server / engine-alone patches/s (medians of {len(same)} "
                  f"and {len(refs)} runs) | {s_pps:.2f} / {e_pps:.2f} = {s_pps / e_pps:.2f} "
                  f"(overhead {100 * (1 - s_pps / e_pps):.1f} %) |")
            paired(r["label"], same, refs)
        st = r["stage_s"]
        print(f"| {r['label']}: worker stage seconds (first run) | " +
              ", ".join(f"{k} {v:.1f}" for k, v in st.items()) + f", busy {r['busy_s']:.1f} |")
    def ratio(what, a, b, extra=""):  # one "a / b = ratio" row of the derived table
        print(f"| {what} (patches/s) | {a:.2f} / {b:.2f} = {a / b:.2f}{extra} |")

    for p in sorted({r["precision"].lower() for r in srv}):
        for stem, who in (("late", "the same owner's"), ("late-owner", "a second owner's")):
            j1, j0 = by.get(f"{stem}-join1-{p}"), by.get(f"{stem}-join0-{p}")
            if j1 and j0:
                print(f"| {who} 1024² job submitted {j1['late_after_s']:g} s into a 4096² job "
                      f"of its model: its latency with batch.join 1 / 0 (s) "
                      f"| {j1['late_latency_p50_s']:.2f} / {j0['late_latency_p50_s']:.2f} (the "
                      f"4096² job: {j1['latency_p50_s']:.2f} / {j0['latency_p50_s']:.2f}) |")
        head16 = [x["patches_per_s"] for x in srv if x["label"] == f"server-16-{p}"]
        if not head16:
            continue
        h = statistics.median(head16)
        one = by.get(f"server-16-{p}-maxjobs1")
        if one:
            ratio("batching gain, 16 jobs, max_jobs 8 vs 1", h, one["patches_per_s"])
        sm8, sm1 = by.get(f"small-64-{p}"), by.get(f"small-64-{p}-maxjobs1")
        if sm8 and sm1:
            ratio(f"batching gain, 64 jobs of 256² ({sm8['patches_per_job']:.0f} patches each), "
                  "max_jobs 8 vs 1", sm8["patches_per_s"], sm1["patches_per_s"])
        cold = by.get(f"server-16-{p}-cold")
        if cold:
            ratio("16 jobs with the model resident vs loaded by the first batch", h,
                  cold["patches_per_s"])
        s2, s1 = by.get(f"switch-resident2-{p}"), by.get(f"switch-resident1-{p}")
        if s2 and s1:
            ratio("model switch, 2 models alternating: resident 2 vs 1", s2["patches_per_s"],
                  s1["patches_per_s"],
                  f" ({int(s2['model_loads'])} vs {int(s1['model_loads'])} loads)")
    cpu_table(srv, eng_rows)

if __name__ == "__main__":
    main(sys.argv[1])
