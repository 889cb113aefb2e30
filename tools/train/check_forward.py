#!/usr/bin/python3
"""Compares the engine's forward pass of an exported demo model with PyTorch's.

    /usr/bin/python3 tools/train/check_forward.py --otf build/bin/otf --model models/demo \
        --state build/demo-train/demo_final.pt [--field FIELD.fits] [--backend reference]

Without --state the PyTorch network is rebuilt from the CIANNA file itself (read back with
read_cianna below), so the check also works on a fresh checkout. Patches are cut from --field
(or from a seeded random sky) and normalised as the manifest says. Exit status 1 when the
decoded outputs differ by more than the tolerance: max |diff| <= 2e-4 * (1 + |value|) on the
activated columns and <= 2e-3 px on box corners (float32 summation order differs between
engines).
"""
import argparse
import configparser
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_net as dn  # noqa: E402


def read_cianna(path):
    """Loads a CIANNA binary file written by demo_net.export_cianna into a DemoNet."""
    raw = Path(path).read_bytes()
    off = 16
    net = dn.DemoNet()
    sd = net.state_dict()
    convs = ["convs.%d" % i for i in range(len(dn.CONVS))] + ["head", "yolo"]
    ci = 0
    while off < len(raw):
        kind = raw[off:off + 1]
        off += 1
        if kind == b"C":
            hdr = struct.unpack_from("<17i", raw, off)
            off += 68
            _, bias_value = struct.unpack_from("<2f", raw, off)
            off += 8
            activ = raw[off:off + 40].split(b"\0")[0]
            off += 40
            if activ.startswith(b"YOLO"):
                off += 20 + 12 * dn.NB_BOX + 72
            nf, kw, kh, cin = hdr[0], hdr[1], hdr[2], hdr[16]
            name = convs[ci]
            cin = sd[name + ".weight"].shape[1]
            n = nf * (cin * kh * kw + 1)
            rows = np.frombuffer(raw, "<f4", n, off).reshape(nf, -1)
            off += 4 * n
            bv = dn.INPUT_BIAS if ci == 0 else bias_value
            sd[name + ".weight"] = torch.from_numpy(rows[:, :-1].reshape(nf, cin, kh, kw).copy())
            sd[name + ".bias"] = torch.from_numpy((rows[:, -1] * np.float32(bv)).copy())
            ci += 1
        elif kind == b"N":
            off += 40 + 8 + 40
            g = sd["norm.gamma"].numel()
            sd["norm.gamma"] = torch.from_numpy(np.frombuffer(raw, "<f4", g, off).copy())
            sd["norm.beta"] = torch.from_numpy(np.frombuffer(raw, "<f4", g, off + 4 * g).copy())
            off += 8 * g
        else:
            raise ValueError("unexpected layer record %r" % kind)
    net.load_state_dict(sd)
    return net


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--otf", required=True)
    ap.add_argument("--model", required=True, help="model folder (model.ini + weights)")
    ap.add_argument("--state", help="PyTorch state dict (default: rebuilt from the weights)")
    ap.add_argument("--field", help="FITS image to cut patches from")
    ap.add_argument("--backend", default="reference")
    ap.add_argument("--patches", type=int, default=4)
    ap.add_argument("--size", type=int, default=0, help="patch side (default infer_patch)")
    a = ap.parse_args()

    ini = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
    ini.read(Path(a.model) / "model.ini")
    size = a.size or int(ini["input"]["infer_patch"].split("x")[0])
    lo, hi = float(ini["normalisation"]["lo"]), float(ini["normalisation"]["hi"])
    gain = float(ini["normalisation"]["gain"])
    weights = Path(a.model) / ini["model"]["weights"]
    net = dn.DemoNet()
    if a.state:
        net.load_state_dict(torch.load(a.state))
    else:
        net = read_cianna(weights)
    net.eval()

    rng = np.random.default_rng(5)
    if a.field:
        from astropy.io import fits
        img = np.nan_to_num(fits.getdata(a.field).squeeze().astype(np.float32))
    else:
        img = (rng.normal(0, 0.4e-6, (4 * size, 4 * size)) +
               rng.exponential(1e-6, (4 * size, 4 * size)) * (rng.random((4 * size,) * 2) < 0.01))
    xs = []
    for _ in range(a.patches):
        y0 = int(rng.integers(0, img.shape[0] - size + 1))
        x0 = int(rng.integers(0, img.shape[1] - size + 1))
        v = np.clip(img[y0:y0 + size, x0:x0 + size], lo, hi)
        xs.append(np.tanh(gain * (v - lo) / (hi - lo)).astype(np.float32))
    x = np.stack(xs)[:, None]
    with torch.no_grad():
        ref = dn.DemoNet.decode(net(torch.from_numpy(x)), size, size).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = Path(tmp) / "in.f32", Path(tmp) / "out.f32"
        x.astype("<f4").tofile(fin)
        subprocess.run([a.otf, "model", "forward", "--model", a.model, "--input", str(fin),
                        "--shape", "%d,1,%d,%d" % (len(xs), size, size), "--output", str(fout),
                        "--stage", "decoded", "--backend", a.backend], check=True)
        got = np.fromfile(fout, "<f4").reshape(ref.shape)
    ncol = dn.NCOL
    r = ref.reshape(len(xs), dn.NB_BOX, ncol, -1)
    g = got.reshape(len(xs), dn.NB_BOX, ncol, -1)
    d_box = np.abs(r[:, :, :6] - g[:, :, :6]).max()
    d_act = (np.abs(r[:, :, 6:] - g[:, :, 6:]) / (1 + np.abs(r[:, :, 6:]))).max()
    obj = r[:, :, 7]
    print("backend %s, %d patches of %d^2: max |box diff| %.3g px, max rel diff (prob, obj, "
          "params) %.3g, objectness range %.3f..%.3f" % (a.backend, len(xs), size, d_box, d_act,
                                                        obj.min(), obj.max()))
    ok = d_box <= 2e-3 and d_act <= 2e-4
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
