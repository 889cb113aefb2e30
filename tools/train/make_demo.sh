#!/bin/sh
# `make demo-model`: trains the demo network on otf-synth fields, exports it to models/demo
# (CIANNA binary + model.ini), tunes the objectness thresholds on the SDC1 score of a held-out
# field and checks the engine against PyTorch. Usage: tools/train/make_demo.sh BUILD_DIR
set -eu
build=${1:-build/dev}
work=build/demo-train
mkdir -p "$work" models/demo
/usr/bin/python3 tools/train/train_demo.py --synth "$build/bin/otf-synth" --work "$work" \
    --out models/demo/net.dat --steps 1100 --seed 7 --threads 2
/usr/bin/python3 tools/train/quality.py tune --otf "$build/bin/otf" \
    --synth "$build/bin/otf-synth" --model models/demo --work "$work/tune" --write
for backend in reference cpu; do
    /usr/bin/python3 tools/train/check_forward.py --otf "$build/bin/otf" --model models/demo \
        --state "$work/demo_final.pt" --backend "$backend"
done
