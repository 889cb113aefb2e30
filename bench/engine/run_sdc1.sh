#!/usr/bin/env bash
# SDC1 engine benchmark: ours (bench_engine, cpu backend) and PyTorch (torch_sdc1.py) in the
# same run, patches 256^2 and 512^2, batches 1/8/16, fp32 and bf16, plus the matmul peak.
# Writes JSON lines to $OUT (default build/bench-engine.jsonl) and prints a Markdown table.
#
#   bench/engine/run_sdc1.sh [BUILD_DIR (Release)] [REPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
REPS=${2:-7}
THREADS=${THREADS:-2}
OUT=${OUT:-build/bench-engine.jsonl}
MODEL=${MODEL:-build/sdc1_random.dat}
BENCH=$BUILD/bin/bench_engine
[ -x "$BENCH" ] || { echo "run_sdc1: build bench_engine in $BUILD first" >&2; exit 1; }
[ -f "$MODEL" ] || /usr/bin/python3 tools/make_sdc1_random.py -o "$MODEL"
mkdir -p "$(dirname "$OUT")"
: > "$OUT"
echo "{\"machine\": \"$(lscpu | sed -n 's/^Model name: *//p')\", \"cpus\": $(nproc), \"date\": \"$(date -u +%FT%TZ)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$OUT"
"$BENCH" --peak --threads "$THREADS" >> "$OUT"
for size in 256 512; do
    for prec in fp32 bf16; do
        for batch in 1 8 16; do
            # PyTorch at 512^2 batch 16 adds little over batch 8 and takes minutes: ours only
            skip=""
            [ "$size" = 512 ] && [ "$batch" = 16 ] && skip="--skip-torch"
            /usr/bin/python3 bench/engine/torch_sdc1.py --model "$MODEL" --bench "$BENCH" \
                --size "$size" --batch "$batch" --precision "$prec" --reps "$REPS" \
                --threads "$THREADS" $skip >> "$OUT"
            tail -n 1 "$OUT" >&2
        done
    done
done
/usr/bin/python3 bench/engine/table.py "$OUT"
