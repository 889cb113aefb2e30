#!/usr/bin/python3
"""Trains the demo YOLO-CIANNA network on otf-synth fields (CPU, PyTorch) and exports it in
CIANNA's binary format. Deterministic from --seed given the same torch build and thread count.

    /usr/bin/python3 tools/train/train_demo.py --synth build/bin/otf-synth --work build/demo-train \
        --out models/demo/net.dat [--steps 3000] [--seed 7] [--threads 2]

Training fields: otf-synth seeds 101..110 (1024^2, B1, noise 0.30-0.45 µJy/beam, two with 10 %
AGN). Seeds 901 (threshold tuning) and 1001+ (quality report) are never used here.
"""
import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_net as dn  # noqa: E402

PATCH = 64
GRID = PATCH // dn.CELL
PIX_ARCSEC = 0.6
BEAM_ARCSEC = 1.5
NORM_LO, NORM_HI, NORM_GAIN = -2e-6, 4e-5, 3.0
POS_SNR = 4.0      # peak SNR of a target
IGN_SNR = 2.5      # sources between IGN_SNR and POS_SNR are neither targets nor background
# extra parameters: ln-min-max flux (apparent, Jy), ln-min-max FWHM-equivalent sizes (arcsec),
# cos(PA), (sin(PA)+1)/2 with PA folded into [-90, 90]
FLUX_LN = (math.log(2e-8), math.log(2e-2))
SIZE_LN = (math.log(0.02), math.log(60.0))
PARAM_W = [4.0, 2.0, 1.0, 0.5, 0.5]  # flux weight overridden by --flux-weight
TRAIN_FIELDS = [  # seed, sigma (Jy/beam), agn fraction (None = SDC1 mix)
    (101, 0.37e-6, None), (102, 0.30e-6, None), (103, 0.45e-6, None), (104, 0.33e-6, None),
    (105, 0.40e-6, 0.1), (106, 0.37e-6, None), (107, 0.35e-6, None), (108, 0.42e-6, None),
    (109, 0.32e-6, 0.1), (110, 0.38e-6, None)]
FIELD_SIZE = 1024
SIZE_K = {1: 0.471, 2: 1.0, 3: math.sqrt(2.0)}


def normalise(v):
    v = np.clip(v, NORM_LO, NORM_HI)
    return np.tanh(NORM_GAIN * (v - NORM_LO) / (NORM_HI - NORM_LO)).astype(np.float32)


def make_fields(synth, work):
    work.mkdir(parents=True, exist_ok=True)
    out = []
    for seed, sigma, agn in TRAIN_FIELDS:
        img, tru = work / ("train_%d.fits" % seed), work / ("train_%d.txt" % seed)
        if not img.exists() or not (work / ("train_%d.txt.snr" % seed)).exists():
            cmd = [synth, "-n", str(FIELD_SIZE), "-s", str(seed), "--sigma", repr(sigma),
                   "-o", str(img), "-t", str(tru)]
            if agn is not None:
                cmd += ["--agn-fraction", repr(agn)]
            subprocess.run(cmd, check=True)
        out.append((img, tru))
    return out


def load_sources(truth_path):
    """Per-source training table: x, y (0-based pixels), snr, flux_app, bmaj, bmin (FWHM-eq
    arcsec), pa (deg, folded into [-90, 90)), box (pixels)."""
    t = np.loadtxt(truth_path, ndmin=2)
    s = np.loadtxt(str(truth_path) + ".snr", ndmin=2)
    keep = s[:, 5] >= 1.5
    t, s = t[keep], s[keep]
    k = np.array([SIZE_K[int(c)] for c in t[:, 10]])
    bmaj, bmin = np.maximum(t[:, 7] * k, 0.02), np.maximum(t[:, 8] * k, 0.02)
    pa = np.mod(t[:, 9] + 90.0, 180.0) - 90.0
    obs = np.sqrt(bmaj ** 2 + BEAM_ARCSEC ** 2) / PIX_ARCSEC
    las = t[:, 10] == 1
    box = np.where(las, t[:, 7] / PIX_ARCSEC + 2 * BEAM_ARCSEC / PIX_ARCSEC, 2 * obs)
    box = np.clip(box, 4.0, 40.0)
    return np.stack([s[:, 1], s[:, 2], s[:, 5], t[:, 5] * s[:, 3], bmaj, bmin, pa, box], axis=1)


def ln_minmax(v, lims):
    return (np.log(v) - lims[0]) / (lims[1] - lims[0])


def make_patch(rng, img, src):
    """One augmented training patch and its YOLO targets."""
    h, w = img.shape
    x0, y0 = int(rng.integers(0, w - PATCH + 1)), int(rng.integers(0, h - PATCH + 1))
    scale = float(rng.uniform(0.85, 1.15))
    raw = img[y0:y0 + PATCH, x0:x0 + PATCH] * scale + float(rng.uniform(-0.25e-6, 0.1e-6))
    patch = normalise(raw)
    sel = (src[:, 0] >= x0 - 0.5) & (src[:, 0] < x0 + PATCH - 0.5) & \
          (src[:, 1] >= y0 - 0.5) & (src[:, 1] < y0 + PATCH - 0.5)
    s = src[sel].copy()
    s[:, 0] += 0.5 - x0  # CIANNA patch coordinates: pixel i spans [i, i+1)
    s[:, 1] += 0.5 - y0
    s[:, 2] *= scale
    s[:, 3] *= scale
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
        s[:, 0] = PATCH - s[:, 0]
        s[:, 6] = -s[:, 6]
    if rng.random() < 0.5:
        patch = patch[::-1, :]
        s[:, 1] = PATCH - s[:, 1]
        s[:, 6] = -s[:, 6]
    patch = np.ascontiguousarray(patch)
    valid = np.ones(len(s), dtype=bool)
    if rng.random() < 0.3:  # zero-filled area, as for patches hanging over the image edge
        side, width = int(rng.integers(0, 4)), int(rng.integers(4, PATCH // 2))
        if side == 0:
            patch[:, :width] = 0
            valid &= s[:, 0] >= width
        elif side == 1:
            patch[:, PATCH - width:] = 0
            valid &= s[:, 0] < PATCH - width
        elif side == 2:
            patch[:width, :] = 0
            valid &= s[:, 1] >= width
        else:
            patch[PATCH - width:, :] = 0
            valid &= s[:, 1] < PATCH - width
    s = s[valid]
    tgt = np.zeros((dn.NB_BOX, 5 + dn.NB_PARAM, GRID, GRID), dtype=np.float32)
    pos = np.zeros((dn.NB_BOX, GRID, GRID), dtype=np.float32)
    ign = np.zeros((GRID, GRID), dtype=np.float32)
    for i in np.argsort(-s[:, 2]):
        x, y, snr, flux, bmaj, bmin, pa, box = s[i]
        gx, gy = min(int(x // dn.CELL), GRID - 1), min(int(y // dn.CELL), GRID - 1)
        if snr < POS_SNR:
            if snr >= IGN_SNR:
                ign[gy, gx] = 1
            continue
        order = np.argsort([abs(math.log(box / p)) for p in dn.PRIORS])
        free = [b for b in order if pos[b, gy, gx] == 0]
        if not free:
            ign[gy, gx] = 1
            continue
        b = free[0]
        pos[b, gy, gx] = 1
        par = [ln_minmax(max(flux, 1e-9), FLUX_LN), ln_minmax(bmaj, SIZE_LN),
               ln_minmax(bmin, SIZE_LN), math.cos(math.radians(pa)),
               (math.sin(math.radians(pa)) + 1) / 2]
        lw = float(np.clip(math.log(box / dn.PRIORS[b]), -1.15, 1.15))
        tgt[b, :, gy, gx] = [x / dn.CELL - gx, y / dn.CELL - gy, lw, lw, 1.0] + \
            [float(np.clip(v, -0.15, 1.45)) for v in par]
    return patch, tgt, pos, ign


def bce(a, target):
    a = torch.clamp(a, 1e-6, 1 - 1e-6)
    return -(target * torch.log(a) + (1 - target) * torch.log(1 - a))


def loss_fn(a, tgt, pos, ign, w_par=PARAM_W, w_xy=8.0):
    """a: activated (B, NB_BOX, NCOL, G, G); tgt (B, NB_BOX, 10, G, G)."""
    neg = (1 - pos) * (1 - ign.unsqueeze(1))
    l_xy = (pos * ((a[:, :, 0] - tgt[:, :, 0]) ** 2 + (a[:, :, 1] - tgt[:, :, 1]) ** 2)).sum()
    l_wh = (pos * ((a[:, :, 3] - tgt[:, :, 2]) ** 2 + (a[:, :, 4] - tgt[:, :, 3]) ** 2)).sum()
    l_obj = (pos * (bce(a[:, :, 7], 1.0) + bce(a[:, :, 6], 1.0))).sum() + \
        (neg * (bce(a[:, :, 7], 0.0) + bce(a[:, :, 6], 0.0))).sum()
    l_par = 0
    for k in range(dn.NB_PARAM):
        l_par = l_par + w_par[k] * (pos * (a[:, :, 8 + k] - tgt[:, :, 5 + k]) ** 2).sum()
    b = a.shape[0]
    return (w_xy * l_xy + l_wh + l_obj + 2.0 * l_par) / b, \
        [float(v) / b for v in (l_xy, l_wh, l_obj, l_par)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synth", required=True, help="otf-synth program")
    ap.add_argument("--work", required=True, help="folder for fields and checkpoints")
    ap.add_argument("--out", required=True, help="exported CIANNA weights (.dat)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--flux-weight", type=float, default=PARAM_W[0])
    ap.add_argument("--xy-weight", type=float, default=8.0)
    ap.add_argument("--stop-at", type=int, default=0,
                    help="stop after this step (checkpoint kept; resume with other settings)")
    a = ap.parse_args()
    w_par = [a.flux_weight] + PARAM_W[1:]

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    work = Path(a.work)
    fields = []
    for img_path, tru_path in make_fields(a.synth, work):
        img = np.nan_to_num(fits.getdata(img_path).squeeze().astype(np.float32))
        fields.append((img, load_sources(tru_path)))
    print("fields: %d, targets >= %.1f sigma: %d" % (
        len(fields), POS_SNR, sum(int((f[1][:, 2] >= POS_SNR).sum()) for f in fields)),
        flush=True)

    net = dn.DemoNet()
    print("parameters: %d" % dn.n_params(net), flush=True)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    ckpt = work / "demo_ckpt.pt"
    start = 0
    if ckpt.exists():
        st = torch.load(ckpt)
        net.load_state_dict(st["net"])
        opt.load_state_dict(st["opt"])
        start = st["step"]
        rng = np.random.default_rng([a.seed, start])
        torch.manual_seed(a.seed + start)
        print("resumed at step %d" % start, flush=True)
    t0, acc = time.time(), np.zeros(5)
    for step in range(start, a.steps):
        lr = 1e-4 + 0.5 * (a.lr - 1e-4) * (1 + math.cos(math.pi * step / a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        batch = [make_patch(rng, *fields[int(rng.integers(len(fields)))])
                 for _ in range(a.batch)]
        x = torch.from_numpy(np.stack([b[0] for b in batch])[:, None])
        tgt = torch.from_numpy(np.stack([b[1] for b in batch]))
        pos = torch.from_numpy(np.stack([b[2] for b in batch]))
        ign = torch.from_numpy(np.stack([b[3] for b in batch]))
        out = net(x)
        loss, parts = loss_fn(out, tgt, pos, ign, w_par, a.xy_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        acc += [float(loss)] + parts
        if (step + 1) % 50 == 0:
            m = acc / 50
            print("step %5d lr %.2e loss %.4f xy %.4f wh %.4f obj %.4f par %.4f  %.1f s" % (
                step + 1, lr, *m, time.time() - t0), flush=True)
            acc[:] = 0
        if (step + 1) % 250 == 0 or step + 1 == a.steps or step + 1 == a.stop_at:
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "step": step + 1},
                       ckpt)
        if step + 1 == a.stop_at:
            print("stopped at step %d" % a.stop_at, flush=True)
            return 0
    net.eval()
    torch.save(net.state_dict(), work / "demo_final.pt")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    dn.export_cianna(net, a.out, PATCH, PATCH)
    print("exported %s (%d bytes)" % (a.out, os.path.getsize(a.out)), flush=True)
    write_manifest(a.out, [0.5] * dn.NB_BOX, a)
    return 0


def write_manifest(weights, thresholds, a):
    """model.ini beside the weights; thresholds are tuned afterwards (quality.py tune)."""
    import hashlib
    sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    card = ("otf-synth B1 1000 h fields, seeds %s (%d^2 px), %d steps of %d patches %dx%d, "
            "torch seed %d; see MODEL_CARD.md" % (
                ",".join(str(f[0]) for f in TRAIN_FIELDS), FIELD_SIZE, a.steps, a.batch, PATCH,
                PATCH, a.seed))
    dn.write_manifest(os.path.dirname(os.path.abspath(weights)), os.path.basename(weights), sha,
                      (NORM_LO, NORM_HI, NORM_GAIN), thresholds, FLUX_LN, SIZE_LN, PATCH, PATCH,
                      16, 0.0, 0.0, card)


if __name__ == "__main__":
    sys.exit(main())
