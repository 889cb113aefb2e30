#!/usr/bin/python3
"""Exports a training checkpoint of the demo network (train_demo.py's demo_ckpt.pt or
demo_final.pt) to a model folder: CIANNA binary weights + model.ini with default thresholds.

    /usr/bin/python3 tools/train/export_ckpt.py build/demo-train/demo_ckpt.pt OUT_DIR
"""
import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_net as dn  # noqa: E402
import train_demo as td  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("out_dir")
    ap.add_argument("--steps", type=int, default=0, help="steps recorded in the card")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()
    st = torch.load(a.checkpoint)
    if "net" in st:
        a.steps = a.steps or st["step"]
        st = st["net"]
    net = dn.DemoNet()
    net.load_state_dict(st)
    os.makedirs(a.out_dir, exist_ok=True)
    out = os.path.join(a.out_dir, "net.dat")
    dn.export_cianna(net, out, td.PATCH, td.PATCH)
    td.write_manifest(out, [0.5] * dn.NB_BOX, a)
    print("%s: %d bytes" % (out, os.path.getsize(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
