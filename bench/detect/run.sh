#!/usr/bin/env bash
# Detection pipeline benchmark: stage times on a 4096^2 field with the SDC1 network (random
# weights, tools/make_sdc1_random.py), and peak RSS on a 16384^2 float32 field (1 GiB file).
# Prints JSON lines (bench_detect run) to stdout.
#
#   bench/detect/run.sh [BUILD_DIR (Release, with bench_detect)] [WORK_DIR]
#   RSS_MODEL=sdc1|tiny (default sdc1): network of the 16384^2 memory run; `tiny` runs the
#   tiny fixture network at the SDC1 patch geometry (512 px, overlap 32) when the SDC1 forward
#   of 1225 patches is too slow for the machine, with an objectness threshold of 0.999 so that
#   the random network's boxes (millions) do not fill the catalogue.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
WORK=${2:-build/bench-detect}
BATCH=${BATCH:-8}
BENCH=$BUILD/bin/bench_detect
[ -x "$BENCH" ] || { echo "run.sh: build bench_detect in $BUILD first" >&2; exit 1; }
mkdir -p "$WORK/sdc1_random"
M=$WORK/sdc1_random
[ -f "$M/net.dat" ] || /usr/bin/python3 tools/make_sdc1_random.py -o "$M/net.dat" --size 256 >&2
cat > "$M/model.ini" <<INI
# SDC1 YOLO-CIANNA architecture with seeded random weights: benchmarks only.
[model]
description = SDC1 architecture, random weights (benchmark)
weights = net.dat
format = binary
precisions = fp32, bf16
[input]
channels = 1
train_patch = 256x256
infer_patch = 512x512
overlap = 32
input_bias = 0.1
[normalisation]
gain = 3
bounds = fixed
lo = 4e-7
hi = 4e-5
[yolo]
nb_box = 9
nb_class = 0
nb_param = 5
min_box = 5
[postprocess]
obj_threshold = 0.5
median_reject = 0.3, 0.7
nms_diou_first = 0.05
nms_diou_second = -0.15
border = drop
border_pix = 0
[param.flux]
unit = Jy
transform = ln_minmax
min = -13.2
max = -6.2
[param.bmaj]
unit = arcsec
transform = ln_minmax
min = -0.1
max = 4.1
[param.bmin]
unit = arcsec
transform = ln_minmax
min = -1.2
max = 3.4
[param.cos_pa]
transform = cos_pa
[param.sin_pa]
transform = sin_pa_half
INI
[ -f "$WORK/field4096.fits" ] || "$BENCH" field "$WORK/field4096.fits" 4096 1
echo "{\"machine\": \"$(lscpu | sed -n 's/^Model name: *//p')\", \"cpus\": $(nproc), \"date\": \"$(date -u +%FT%TZ)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
"$BENCH" run --model "$M" --image "$WORK/field4096.fits" --backend cpu --batch "$BATCH"
[ -f "$WORK/field16384.fits" ] || "$BENCH" field "$WORK/field16384.fits" 16384 2
if [ "${RSS_MODEL:-sdc1}" = tiny ]; then
    "$BENCH" run --model tests/data/models/tiny --image "$WORK/field16384.fits" --backend cpu \
        --batch "$BATCH" --patch 512 --overlap 32 --obj-threshold 0.999
else
    "$BENCH" run --model "$M" --image "$WORK/field16384.fits" --backend cpu --batch "$BATCH"
fi
