#!/usr/bin/python3
"""Formats bench/engine/run_sdc1.sh's JSON lines as the Markdown table of BENCHMARKS.md."""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
head = next(r for r in rows if "machine" in r)
peak = next(r for r in rows if "peak_gflops_fp32" in r)
print(f"Machine: {head['machine']}, {head['cpus']} CPUs, {head['date']}, load before: {head['load']}")
print(f"Peak (oneDNN matmul, {peak['threads']} threads): fp32 {peak['peak_gflops_fp32']:.0f} GFLOP/s, "
      f"bf16 {peak['peak_gflops_bf16']:.0f} GFLOP/s\n")
print("| patch | prec | batch | ours ms/patch (median) | ours GFLOP/s | % of peak | peak RSS MiB "
      "| PyTorch ms/patch (median) | PyTorch GFLOP/s | ours vs torch NMSE |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if "ours" not in r:
        continue
    o = r["ours"]
    pk = peak["peak_gflops_" + o["precision"]]
    t = r.get("torch")
    ag = r.get("agreement_vs_torch_fp32", {}).get("nmse")
    print(f"| {o['size']}² | {o['precision']} | {o['batch']} | {o['ms_per_patch_median']:.2f} "
          f"| {o['gflops']:.0f} | {100 * o['gflops'] / pk:.0f}% | {o['peak_rss_mib']:.0f} "
          f"| {t['ms_per_patch_median']:.2f} | {t['gflops']:.0f} | {ag:.1e} |" if t else
          f"| {o['size']}² | {o['precision']} | {o['batch']} | {o['ms_per_patch_median']:.2f} "
          f"| {o['gflops']:.0f} | {100 * o['gflops'] / pk:.0f}% | {o['peak_rss_mib']:.0f} "
          f"| — | — | — |")
