#!/bin/sh
# `make demo-model`: trains the demo network on otf-synth fields, exports it to models/demo
# (CIANNA binary + model.ini), tunes the objectness thresholds on the SDC1 score of a held-out
# field and checks the engine against PyTorch. Usage: tools/train/make_demo.sh BUILD_DIR
set -eu
build=${1:-build/dev}
work=build/demo-train
mkdir -p "$work" models/demo
rm -f "$work/demo_ckpt.pt"
train() {
    /usr/bin/python3 tools/train/train_demo.py --synth "$build/bin/otf-synth" --work "$work" \
        --out models/demo/net.dat --seed 7 --threads 2 "$@"
}
# Cosine schedules with warm restarts, each phase resuming the previous checkpoint (weights,
# Adam state, step). Phase 1 stops at step 500 of an 1100-step schedule; from phase 2 the flux
# term weighs 3x more (flux was the weakest SDC1 component), from phase 3 the position term too.
train --steps 1100 --stop-at 500
train --steps 1700 --flux-weight 12
train --steps 3000 --flux-weight 12 --xy-weight 24
train --steps 4500 --flux-weight 12 --xy-weight 24
train --steps 6500 --flux-weight 12 --xy-weight 24
/usr/bin/python3 tools/train/quality.py tune --otf "$build/bin/otf" \
    --synth "$build/bin/otf-synth" --model models/demo --work "$work/tune" --write
for backend in reference cpu; do
    /usr/bin/python3 tools/train/check_forward.py --otf "$build/bin/otf" --model models/demo \
        --state "$work/demo_final.pt" --backend "$backend"
done
