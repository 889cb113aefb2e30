#!/usr/bin/python3
"""Writes the SDC1 YOLO-CIANNA architecture (shared/reference/cianna-format.md §10) with seeded
random weights in CIANNA's binary save format (docs/formats/cianna-model.md), for benchmarks and
engine tests. The structure (layer records, YOLO block, slopes, priors) is the real one; only the
weights are random, so the outputs mean nothing astronomically.

    /usr/bin/python3 tools/make_sdc1_random.py -o build/sdc1_random.dat [--seed 1] [--size 256]
        [--width 1]

Expected: 12,621,373 parameters, 50,487,786 bytes, 11.51 GFLOP per 256x256 patch.
--width F scales the filters of every hidden layer by F (multiples of 4; the YOLO layer, its grid
and so the detections are unchanged): a network of the same inputs and outputs whose forward
pass costs about F^2 as much, for benchmarks of everything around a faster forward.
"""
import argparse
import struct
import sys

import numpy as np

# (filters, f, stride, pad) of the 17 convs before the YOLO layer; the norm follows conv 15.
CONVS = [(32, 5, 1, 2), (16, 2, 2, 0), (24, 3, 1, 1), (32, 3, 1, 1), (64, 2, 2, 0),
         (128, 1, 1, 0), (192, 3, 1, 1), (128, 2, 2, 0), (192, 1, 1, 0), (384, 3, 1, 1),
         (256, 1, 1, 0), (384, 3, 1, 1), (512, 2, 2, 0), (768, 1, 1, 0), (1024, 3, 1, 1)]
NB_BOX, NB_CLASS, NB_PARAM, FIT_DIM = 9, 0, 5, 2
PRIORS_W = [6, 6, 6, 6, 6, 6, 12, 9, 24]
PRIORS_H = [6, 6, 6, 6, 6, 6, 9, 12, 24]
# rows: position, size, probability, objectness, classes, params; cols: slope, fmax, fmin
SLOPES = [(0.5, 6, -6), (0.5, 1.2, -1.2), (0.2, 6, -6), (0.5, 6, -6), (1, 6, -6),
          (0.5, 1.5, -0.2)]
RELU = "RELU_S800.00_L0.05"


def s40(s):
    b = s.encode("ascii")
    assert len(b) < 40
    return b + b"\0" * (40 - len(b))


class Writer:
    def __init__(self, out, w, h, c, rng):
        self.out, self.rng = out, rng
        self.w, self.h, self.c = w, h, c
        self.n_params = 0
        out.write(struct.pack("<4i", w, h, 1, c))

    def conv(self, nf, f, stride, pad, activ=RELU, bias=0.1, drop=0.0, yolo=None, scale=1.0):
        w, h, c = self.w, self.h, self.c
        self.out.write(b"C" + struct.pack("<17i", nf, f, f, 1, stride, stride, 1, pad, pad, 0,
                                          0, 0, 0, w, h, 1, c))
        self.out.write(struct.pack("<2f", drop, bias) + s40(activ))
        if yolo is not None:
            self.out.write(struct.pack("<5i", NB_BOX, NB_CLASS, NB_PARAM, FIT_DIM, 0))
            pri = PRIORS_W + PRIORS_H + [0.0] * NB_BOX
            self.out.write(struct.pack("<%df" % len(pri), *pri))
            self.out.write(struct.pack("<18f", *[v for row in SLOPES for v in row]))
        fan_in = f * f * c
        wts = np.empty((nf, fan_in + 1), dtype="<f4")
        wts[:, :fan_in] = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (nf, fan_in)) * scale
        wts[:, fan_in] = self.rng.normal(0.0, 1.0, nf) * scale
        self.out.write(wts.tobytes())
        self.n_params += wts.size
        self.w = (w + 2 * pad - f) // stride + 1
        self.h = (h + 2 * pad - f) // stride + 1
        self.c = nf

    def norm(self, group_size):
        nb_group = -(-self.c // group_size)
        self.out.write(b"N" + s40("GN") + struct.pack("<2i", group_size, 0) + s40("LIN"))
        gamma = self.rng.uniform(0.5, 1.5, nb_group).astype("<f4")
        beta = self.rng.normal(0.0, 0.3, nb_group).astype("<f4")
        self.out.write(gamma.tobytes() + beta.tobytes())
        self.n_params += 2 * nb_group


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", required=True, help="output .dat file")
    ap.add_argument("--seed", type=int, default=1, help="numpy default_rng seed (default 1)")
    ap.add_argument("--size", type=int, default=256,
                    help="input size stored in the header, a multiple of 16 (default 256)")
    ap.add_argument("--width", type=float, default=1.0,
                    help="scale of the hidden layers' filter counts (default 1: the SDC1 network)")
    a = ap.parse_args()
    if a.size < 16 or a.size % 16:
        ap.error("--size must be a positive multiple of 16")
    if not 0 < a.width <= 4:
        ap.error("--width must be in (0, 4]")

    def filters(nf):
        return nf if a.width == 1 else max(4, int(round(nf * a.width / 4)) * 4)

    rng = np.random.default_rng(a.seed)
    with open(a.output, "wb") as out:
        wr = Writer(out, a.size, a.size, 1, rng)
        for nf, f, s, p in CONVS:
            wr.conv(filters(nf), f, s, p)
        wr.norm(4)
        wr.conv(filters(2048), 1, 1, 0, drop=0.25)
        wr.conv(NB_BOX * (8 + NB_CLASS + NB_PARAM), 1, 1, 0, activ="YOLO", bias=0.5, yolo=True,
                scale=0.1)
        size = out.tell()
    print("%s: %d parameters, %d bytes, output grid %dx%dx%d" %
          (a.output, wr.n_params, size, wr.w, wr.h, wr.c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
