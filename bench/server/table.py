#!/usr/bin/python3
"""Markdown tables from bench/server/run.sh's JSON lines (bench-server.jsonl)."""
import json
import sys

ANCHOR_PPS, ANCHOR_JPS = 5.9, 0.37  # the original service, 16 x 1024^2 jobs, these 2 cores


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    head = rows[0] if "machine" in rows[0] else {}
    eng = {r["label"]: r for r in rows if r.get("label", "").startswith("engine")}
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
          "patches/s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for label, e in eng.items():
        print(f"| {label} | {e['precision']} | {e['reps'] * e['batch']} "
              f"| {e['ms_per_patch_median']:.1f} | {1000 / e['ms_per_patch_median']:.2f} "
              f"| {e['peak_rss_mib']:.0f} |")
    print()
    print("| derived | value |")
    print("|---|---|")
    by = {r["label"]: r for r in srv}
    for r in srv:
        p = r["precision"].lower()
        if r["label"] == f"server-16-{p}":
            refs = [eng[k] for k in (f"engine-16-{p}-before", f"engine-16-{p}-after") if k in eng]
        elif r["label"] == f"server-64-{p}":
            refs = [eng[k] for k in (f"engine-64-{p}",) if k in eng]
        else:
            continue
        if refs:
            e_pps = sum(1000 / e["ms_per_patch_median"] for e in refs) / len(refs)
            print(f"| {r['label']}: server / engine-alone patches/s | {r['patches_per_s']:.2f} / "
                  f"{e_pps:.2f} = {r['patches_per_s'] / e_pps:.2f} "
                  f"(overhead {100 * (1 - r['patches_per_s'] / e_pps):.0f} %) |")
        st = r["stage_s"]
        print(f"| {r['label']}: worker stage seconds | " +
              ", ".join(f"{k} {v:.1f}" for k, v in st.items()) + f", busy {r['busy_s']:.1f} |")
    for r in srv:
        p = r["precision"].lower()
        one = by.get(f"server-16-{p}-maxjobs1")
        if r["label"] == f"server-16-{p}" and one:
            print(f"| batching gain, 16 jobs, max_jobs 8 vs 1 (patches/s) | "
                  f"{r['patches_per_s']:.2f} / {one['patches_per_s']:.2f} = "
                  f"{r['patches_per_s'] / one['patches_per_s']:.2f} |")
        s2, s1 = by.get(f"switch-resident2-{p}"), by.get(f"switch-resident1-{p}")
        if r["label"] == f"server-16-{p}" and s2 and s1:
            print(f"| model switch, 2 models alternating: resident 2 vs 1 (patches/s) | "
                  f"{s2['patches_per_s']:.2f} / {s1['patches_per_s']:.2f} = "
                  f"{s2['patches_per_s'] / s1['patches_per_s']:.2f} "
                  f"({int(s2['model_loads'])} vs {int(s1['model_loads'])} loads) |")


if __name__ == "__main__":
    main(sys.argv[1])
