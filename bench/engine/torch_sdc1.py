#!/usr/bin/python3
"""The independent anchor for the cpu engine: rebuilds a CIANNA SDC1-style network (conv / group
norm / YOLO conv, shared/reference/cianna-format.md §3, §6, §10) in PyTorch from the CIANNA
binary file, checks that its raw last-layer output agrees with bench_engine's on the same input,
and times both in the same run. PyTorch runs traced and frozen, channels-last, with CIANNA's
saturated leaky ReLU written as min(leaky_relu(x), leak*x + sat*(1-leak)) (no slow path);
bf16 runs under torch.autocast.

    /usr/bin/python3 bench/engine/torch_sdc1.py --model sdc1.dat --bench build/rel/bin/bench_engine \
        --size 256 --batch 8 --precision fp32 [--reps 10] [--threads 2]

Prints one JSON line: ours (from bench_engine), torch's timings and the agreement (NMSE and
max |diff| / max |ref| of the raw YOLO-layer output, ours vs torch fp32).
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_cianna(path):
    """Parses the conv / norm records of a CIANNA binary model (reference §3)."""
    data = open(path, "rb").read()
    off = 16
    layers = []
    c_in = struct.unpack_from("<4i", data, 0)[3]

    def s40(o):
        return data[o:o + 40].split(b"\0", 1)[0].decode("ascii")

    while off < len(data):
        kind = chr(data[off])
        off += 1
        if kind == "C":
            v = struct.unpack_from("<17i", data, off)  # + prev_size[3], prev_depth
            nf, fw, fh, fd = v[0], v[1], v[2], v[3]
            stride, pad, ipad = v[4:7], v[7:10], v[10:13]
            off += 68
            drop, bias = struct.unpack_from("<2f", data, off)
            off += 8
            act = s40(off)
            off += 40
            if act.startswith("YOLO"):
                nb_box, nb_class, nb_param = struct.unpack_from("<3i", data, off)
                off += 20 + 12 * nb_box + 72
            assert fd == 1 and ipad == (0, 0, 0), "only 2-D convs without int_padding"
            flat = fw * fh * c_in + 1
            w = np.frombuffer(data, "<f4", nf * flat, off).reshape(nf, flat)
            off += 4 * nf * flat
            layers.append(dict(kind="conv", nf=nf, f=(fh, fw), stride=(stride[1], stride[0]),
                               pad=(pad[1], pad[0]), drop=drop, bias=bias, act=act,
                               w=w[:, :-1].reshape(nf, c_in, fh, fw), wb=w[:, -1]))
            c_in = nf
        elif kind == "N":
            off += 40
            gs, set_off = struct.unpack_from("<2i", data, off)
            off += 8
            act = s40(off)
            off += 40
            ng = (c_in + gs - 1) // gs
            g = np.frombuffer(data, "<f4", 2 * ng, off)
            off += 8 * ng
            assert set_off == 0 and c_in % gs == 0, "group norm without set_off"
            layers.append(dict(kind="norm", gs=gs, ng=ng, act=act, gamma=g[:ng], beta=g[ng:]))
        else:
            raise SystemExit("torch_sdc1: layer type %r is not part of the SDC1 architecture" % kind)
    return layers


def relu_params(act):
    sat, leak = 800.0, 0.05
    if "_S" in act:
        sat = float(act.split("_S")[1].split("_")[0])
    if "_L" in act:
        leak = float(act.split("_L")[1].split("_")[0])
    return sat, leak


class CiannaRelu(torch.nn.Module):
    """x<=0: leak*x; x>sat: sat+(x-sat)*leak; else x, as one min() of two affine branches."""

    def __init__(self, sat, leak):
        super().__init__()
        self.sat, self.leak = sat, leak

    def forward(self, x):
        return torch.minimum(F.leaky_relu(x, self.leak), x * self.leak + self.sat * (1 - self.leak))


class GroupNormF32(torch.nn.GroupNorm):
    """Group norm in fp32 (CPU autocast in torch 1.13 hands it bf16 input with fp32 weights)."""

    def forward(self, x):
        return F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps)


class Net(torch.nn.Module):
    def __init__(self, layers, input_bias):
        super().__init__()
        mods = []
        for i, L in enumerate(layers):
            if L["kind"] == "conv":
                scale = 1.0 - L["drop"] if L["drop"] > 0.01 else 1.0
                conv = torch.nn.Conv2d(L["w"].shape[1], L["nf"], L["f"], L["stride"], L["pad"])
                bias_v = input_bias if i == 0 else L["bias"]
                conv.weight.data = torch.from_numpy(L["w"] * scale).float()
                conv.bias.data = torch.from_numpy(L["wb"] * bias_v * scale).float()
                mods.append(conv)
                last = i == len(layers) - 1
                if L["act"].startswith("RELU") and not last:
                    mods.append(CiannaRelu(*relu_params(L["act"])))
            else:
                gn = GroupNormF32(L["ng"], L["ng"] * L["gs"], eps=1e-3)
                gn.weight.data = torch.from_numpy(np.repeat(L["gamma"], L["gs"])).float()
                gn.bias.data = torch.from_numpy(np.repeat(L["beta"], L["gs"])).float()
                mods.append(gn)
        self.seq = torch.nn.Sequential(*mods)

    def forward(self, x):
        return self.seq(x)


def time_torch(fn, x, reps):
    for _ in range(3):
        fn(x)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(x)
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts), min(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--bench", required=True, help="path of bench_engine")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-torch", action="store_true", help="time ours only")
    a = ap.parse_args()

    rng = np.random.default_rng(7)
    shape = (a.batch, 1, a.size, a.size)
    # sky-like input: faint noise plus bright blobs, tanh-normalised as in the SDC1 pipeline
    img = np.clip(rng.normal(0.02, 0.03, shape), 0, 1)
    for b in range(a.batch):
        for _ in range(8):
            y, x = rng.integers(0, a.size, 2)
            yy, xx = np.ogrid[:a.size, :a.size]
            img[b, 0] += rng.uniform(0.2, 1.0) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 8.0)
    x_np = np.tanh(3 * np.clip(img, 0, 1)).astype("<f4")

    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.f32")
        x_np.tofile(fin)
        cmd = [a.bench, "--model", a.model, "--size", str(a.size), "--batch", str(a.batch),
               "--precision", a.precision, "--reps", str(a.reps), "--threads", str(a.threads),
               "--input", fin, "--output", fout, "--stage", "raw"]
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
        ours = json.loads(res.stdout.strip().splitlines()[-1])
        out_ours = np.fromfile(fout, "<f4")

    result = {"ours": ours}
    if not a.skip_torch:
        torch.set_num_threads(a.threads)
        net = Net(read_cianna(a.model), 0.1).eval()
        x = torch.from_numpy(x_np).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            ref = net(torch.from_numpy(x_np)).numpy().ravel()  # eager fp32: the oracle
            d = out_ours - ref
            result["agreement_vs_torch_fp32"] = {
                "nmse": float(np.sum(d.astype(np.float64) ** 2) / np.sum(ref.astype(np.float64) ** 2)),
                "max_abs_diff_over_max_abs": float(np.max(np.abs(d)) / np.max(np.abs(ref))),
            }
            net = net.to(memory_format=torch.channels_last)
            if a.precision == "bf16":
                # the recipe for traced CPU autocast: no weight cache, no re-trace check
                with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
                    traced = torch.jit.freeze(torch.jit.trace(net, x, check_trace=False))
                    med, best = time_torch(traced, x, a.reps)
            else:
                traced = torch.jit.freeze(torch.jit.trace(net, x))
                med, best = time_torch(traced, x, a.reps)
        gflop = ours["gflop_per_patch"]
        result["torch"] = {"version": torch.__version__, "ms_per_patch_median": med / a.batch,
                           "ms_per_patch_best": best / a.batch,
                           "gflops": gflop * a.batch / (med / 1e3)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
