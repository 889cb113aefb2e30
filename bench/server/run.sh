#!/usr/bin/env bash
# Server throughput and batching benchmark (issue 5): the Release otfd with one worker process on
# this machine, SDC1 architecture with random weights at 256^2 patches, synthetic 1024^2 images,
# against the engine alone (bench_engine) on the same number of patches in the same run.
#
#   bench/server/run.sh [BUILD_DIR (Release, with otfd, bench_engine and bench_detect)]
#
# Environment: PRECS="BF16 FP32" (precisions of the 16-job headline; the other scenarios run in
# the first one), REPS (headline repetitions, default 3), OUT (JSON lines, default BUILD_DIR/bench-server.jsonl), WORK (temp folder),
# THREADS (engine threads, default 2), THIN (width of the fast-forward network, default 0.35;
# 0 = skip that scenario), DIRECT (1, the default: the fp32 headline also runs with
# engine.winograd = 0, direct convolutions only, server and engine alone; 0 = skip), SCENARIOS
# (all, the default; headline = only the 16-job runs alternating with the engine alone, for a
# long paired series: PRECS=FP32 DIRECT=0 THIN=0 SCENARIOS=headline REPS=15). Prints a Markdown
# table (bench/server/table.py).
#
# The fast-forward scenario runs the same 16 jobs through the SDC1 architecture with every
# hidden layer THIN times as wide (tools/make_sdc1_random.py --width): the same patches, grid and
# detections for about THIN^2 of the forward's cost, which puts the server's own work against a
# forward pass as fast as bf16 on AMX hardware or a GPU (4.6-6 ms per patch at 0.35 in fp32 here,
# with its three Winograd layers; 5.6-5.8 direct).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
PRECS=${PRECS:-"BF16 FP32"}
THREADS=${THREADS:-2}
SCENARIOS=${SCENARIOS:-all}
case $SCENARIOS in
all | headline) ;;
*) echo "run.sh: SCENARIOS is all or headline, not '$SCENARIOS'" >&2; exit 2 ;;
esac
OUT=${OUT:-$BUILD/bench-server.jsonl}
WORK=${WORK:-$(mktemp -d /tmp/otf-bench-server.XXXXXX)}
OTFD=$BUILD/bin/otfd
BENCH=$BUILD/bin/bench_engine
DETECT=$BUILD/bin/bench_detect
PY=/usr/bin/python3
for b in "$OTFD" "$BENCH" "$DETECT"; do
    [ -x "$b" ] || { echo "run.sh: build otfd, bench_engine and bench_detect in $BUILD first" >&2; exit 1; }
done

# Two model folders: sdc1 and sdc1b (other random weights), 256^2 inference patches, overlap
# 32, the SDC1 post-processing of docs/formats/model-manifest.md.
mkdir -p "$WORK/models"
THIN=${THIN:-0.35}
MODELS="sdc1:1:1 sdc1b:2:1"
[ "$THIN" = 0 ] || MODELS="$MODELS sdc1thin:1:$THIN"
for m in $MODELS; do
    IFS=: read -r id seed width <<<"$m"
    dir=$WORK/models/$id
    mkdir -p "$dir"
    [ -f "$dir/net.dat" ] || $PY tools/make_sdc1_random.py -o "$dir/net.dat" --seed "$seed" --size 256 \
        --width "$width" >/dev/null
    cat >"$dir/model.ini" <<INI
[model]
description = SDC1 architecture at width $width with random weights (seed $seed), benchmark only
licence = Apache-2.0
training_data = none: random weights (tools/make_sdc1_random.py --seed $seed)
weights = net.dat
weights_sha256 = $(sha256sum "$dir/net.dat" | cut -d' ' -f1)
format = binary
precisions = fp32, bf16
[input]
channels = 1
train_patch = 256x256
infer_patch = 256x256
overlap = 32
[normalisation]
gain = 3
lo = 4e-7
hi = 4e-5
[yolo]
min_box = 5
max_obj = 340
[postprocess]
obj_threshold = 0.5
nms_diou_first = 0.1
nms_diou_second = -0.15
border = drop
[param.flux]
unit = Jy
transform = ln_minmax
min = -14
max = -4
[param.bmaj]
unit = arcsec
transform = ln_minmax
min = 0
max = 3.5
[param.bmin]
unit = arcsec
transform = ln_minmax
min = 0
max = 3
[param.pa_cos]
transform = cos_pa
[param.pa_sin]
transform = sin_pa_half
INI
done
IMG=$WORK/img1024.fits
[ -f "$IMG" ] || $PY -c "
import sys; sys.path.insert(0, 'tests/integration')
from test_batching import write_fits
write_fits(sys.argv[1], 1024, seed=7)" "$IMG"

IMG256=$WORK/img256.fits
[ -f "$IMG256" ] || $PY -c "
import sys; sys.path.insert(0, 'tests/integration')
from test_batching import write_fits
write_fits(sys.argv[1], 256, seed=8)" "$IMG256"

# The engine alone runs on the image's own patches as the worker normalises them (the first 16
# of its 25; timings do not depend on the values, measured: 36.7 against 36.8 ms per patch).
IMG4096=$WORK/img4096.fits
[ -f "$IMG4096" ] || [ "$SCENARIOS" = headline ] || $PY -c "
import sys; sys.path.insert(0, 'tests/integration')
from test_batching import write_fits
write_fits(sys.argv[1], 4096, seed=9)" "$IMG4096"

PATCHES=$WORK/img1024-patches.f32
[ -f "$PATCHES" ] || "$DETECT" patches --model "$WORK/models/sdc1" --image "$IMG" --out "$PATCHES" >/dev/null

mkdir -p "$(dirname "$OUT")"
: >"$OUT"
echo "{\"machine\": \"$(lscpu | sed -n 's/^Model name: *//p')\", \"cpus\": $(nproc), \"date\": \"$(date -u +%FT%TZ)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$OUT"

server() { # label, args... (a later --image overrides the 1024^2 one)
    local label=$1
    shift
    $PY bench/server/bench_server.py --otfd "$OTFD" --models "$WORK/models" --image "$IMG" \
        --threads "$THREADS" --label "$label" "$@" >>"$OUT"
    tail -n 1 "$OUT" >&2
}
engine() { # label, precision, patches[, model[, winograd]]: the same patches in micro-batches of
    # 16, output decoded into boxes as the worker asks the engine for (YOLO activation and
    # decoding included), with the server's default convolutions unless winograd is 0
    local label=$1 prec=$2 reps=$(($3 / 16)) model=${4:-sdc1} wino=${5:-1}
    "$BENCH" --model "$WORK/models/$model/net.dat" --size 256 --batch 16 --precision "$prec" --input "$PATCHES" \
        --reps "$reps" --threads "$THREADS" --stage decoded --winograd "$wino" |
        sed "s/^{/{\"label\": \"$label\", /" >>"$OUT"
    tail -n 1 "$OUT" >&2
}

# The headline (16 jobs, max_jobs 8, model resident: a warm-up job runs first) alternates with
# the engine alone REPS times; the tables use the medians. The other scenarios run once, in the
# first precision; the switch scenarios start cold (their model loads are the point).
REPS=${REPS:-3}
DIRECT=${DIRECT:-1}
first=1 # the one-off scenarios run with the first precision
[ "$SCENARIOS" = all ] || first=0
for P in $PRECS; do
    p=$(echo "$P" | tr 'A-Z' 'a-z')
    for r in $(seq "$REPS"); do
        engine "engine-16-$p-r$r" "$p" 400
        server "server-16-$p" --jobs 16 --model sdc1 --precision "$P" --max-jobs 8 --warmup
        if [ "$P" = FP32 ] && [ "$DIRECT" != 0 ]; then
            engine "engine-16-$p-direct-r$r" "$p" 400 sdc1 0
            server "server-16-$p-direct" --jobs 16 --model sdc1 --precision "$P" --max-jobs 8 \
                --warmup --set engine.winograd=0
        fi
    done
    engine "engine-16-$p-r$((REPS + 1))" "$p" 400
    if [ "$P" = FP32 ] && [ "$DIRECT" != 0 ]; then
        engine "engine-16-$p-direct-r$((REPS + 1))" "$p" 400 sdc1 0
    fi
    if [ $first = 1 ]; then
        first=0
        server "server-16-$p-cold" --jobs 16 --model sdc1 --precision "$P" --max-jobs 8
        server "server-16-$p-maxjobs1" --jobs 16 --model sdc1 --precision "$P" --max-jobs 1 \
            --warmup
        server "server-64-$p" --jobs 64 --model sdc1 --precision "$P" --max-jobs 8 --warmup
        engine "engine-64-$p" "$p" 1600
        server "lowload-8-$p" --jobs 8 --model sdc1 --precision "$P" --sequential --warmup
        # small images (256^2: 9 patches each): where batching across jobs fills micro-batches
        server "small-64-$p" --jobs 64 --model sdc1 --precision "$P" --max-jobs 8 --warmup \
            --image "$IMG256"
        server "small-64-$p-maxjobs1" --jobs 64 --model sdc1 --precision "$P" --max-jobs 1 \
            --warmup --image "$IMG256"
        server "switch-resident2-$p" --jobs 16 --model sdc1 --model2 sdc1b --precision "$P" \
            --max-jobs 2 --max-resident 2
        server "switch-resident1-$p" --jobs 16 --model sdc1 --model2 sdc1b --precision "$P" \
            --max-jobs 2 --max-resident 1
        # a 1024^2 job submitted 2 s into a 4096^2 job of the same model, by the same owner and
        # by a second one: it joins the running batch (batch.join), or waits for it to end
        for join in 1 0; do
            server "late-join$join-$p" --jobs 1 --image "$IMG4096" --late 1 \
                --late-image "$IMG" --late-after 2 --model sdc1 --precision "$P" --warmup \
                --set batch.join=$join
            server "late-owner-join$join-$p" --jobs 1 --image "$IMG4096" --late 1 --late-owner \
                --late-image "$IMG" --late-after 2 --model sdc1 --precision "$P" --warmup \
                --set batch.join=$join
        done
    fi
done
# The fast-forward scenario, alternating with its engine alone, in the first precision.
if [ "$THIN" != 0 ]; then
    P=${PRECS%% *}
    p=$(echo "$P" | tr 'A-Z' 'a-z')
    for r in $(seq "$REPS"); do
        engine "engine-16-thin-$p-r$r" "$p" 400 sdc1thin
        server "server-16-thin-$p" --jobs 16 --model sdc1thin --precision "$P" --max-jobs 8 --warmup
    done
    engine "engine-16-thin-$p-r$((REPS + 1))" "$p" 400 sdc1thin
fi
$PY bench/server/table.py "$OUT"
