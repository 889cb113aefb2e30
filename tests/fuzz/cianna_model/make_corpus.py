#!/usr/bin/python3
"""Writes the seed corpus of the cianna_model fuzz target from tests/data (each file < 64 KiB):
the case models, truncated and mutated copies, small text saves of every layer kind (with a
YOLO layer, which CIANNA itself cannot read back) and the tiny model manifest.

    /usr/bin/python3 tests/fuzz/cianna_model/make_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data")
OUT = os.path.join(HERE, "corpus")


def rd(rel):
    with open(os.path.join(DATA, rel), "rb") as f:
        return f.read()


def wr(name, b):
    assert len(b) < 65536, name
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(b)


def patch_i32(b, off, v):
    return b[:off] + struct.pack("<i", v) + b[off + 4:]


def main():
    os.makedirs(OUT, exist_ok=True)
    a = rd("cianna/caseA/model_A.bin")
    e = rd("cianna/caseE/model_E.bin")
    wr("bin_caseA", a)
    wr("bin_caseA_lastLIN", rd("cianna/caseA/model_A_lastLIN.bin"))
    wr("bin_caseE", e)
    wr("bin_caseA_trunc200", a[:200])
    wr("bin_caseA_trunc_yolo", a[:len(a) - 4800])
    wr("bin_caseE_header_only", e[:16])
    wr("bin_caseE_huge_filters", patch_i32(e, 17, 1 << 30))
    wr("bin_caseE_neg_stride", patch_i32(e, 17 + 16, -1))
    wr("bin_caseE_bad_type", e[:16] + b"X" + e[17:])
    wr("bin_caseE_bad_activ", e[:17 + 76] + b"FOO\0" + e[17 + 80:])
    wr("txt_caseB_noyolo", rd("cianna/caseB/model_B_noyolo.txt"))
    # a 1x1 YOLO conv: 1 box, 0 classes, 0 params -> 8 filters of 2 weights
    y = ("8x8x1x1\nC8f1x1x1.1x1x1s0x0x0p0x0x0ip8x8x1x1idim0.000000d0.500000bYOLO \n"
         "1 0 0 2 0\n4 \n4 \n0 \n0.5 6 -6 \n0.5 1.2 -1.4 \n0.2 6 -6 \n0.5 4 -5 \n1 3 -6 \n"
         "0.5 1.5 -0.2 \n" + "".join("%g %g \n" % (0.1 * i, -0.2) for i in range(8)) + "\n")
    wr("txt_yolo", y.encode())
    # pool, lrn, dense -> dense -> conv after dense
    t = ["8x8x1x1\n", "P2x2x1.2x2x1s0x0x0p0g_0.000000dMAX LIN \n\n",
         "L 5 1.000000 1.000000 0.500000 LIN \n",
         "D4n0.250000d0.100000bRELU_S800.00_L0.05 \n"]
    t += ["%g %g %g %g %g \n" % (0.1, -0.2, 0.3, 0.05 * j, 1) for j in range(17)]
    t += ["\n", "D4n0.000000d0.100000bLIN \n"]
    t += ["%g %g %g %g %g \n" % (0.5, 0.1, -0.3, 0.2, 0.7) for j in range(5)]
    t += ["\n", "C2f1x1x1.1x1x1s0x0x0p0x0x0ip2x2x1x1idim0.000000d0.100000bSMAX \n",
          "1 0.5 \n-1 0.25 \n\n"]
    wr("txt_pool_lrn_dense_conv", "".join(t).encode())
    wr("txt_norm", ("4x4x1x2\nC4f3x3x1.1x1x1s1x1x0p0x0x0ip4x4x1x2idim0.000000d0.100000bLIN \n" +
                    "".join("%s1 \n" % ("0.1 " * 18) for _ in range(4)) + "\n" +
                    "N GN S2_O1RELU_S800.00_L0.05 \n1.5 0.5 \n0.1 -0.1 \n\n").encode())
    wr("ini_tiny", rd("models/tiny/model.ini"))
    return 0


if __name__ == "__main__":
    main()
