#!/usr/bin/python3
"""Detection-quality tooling: `otf score` against hand-computed SDC1 scores, otf-synth's truth
against its image, and the shipped demo model's engine outputs against PyTorch's.

    test_demo.py --otf build/bin/otf --synth build/bin/otf-synth --source-dir .

The demo-model check needs python3-torch; without it that part is skipped (the rest still runs).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

ARGS = None


def run(*cmd, check=True):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (cmd, p.returncode, p.stderr))
    return p


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def score_json(sub, truth, *extra):
    return json.loads(run(ARGS.otf, "score", sub, truth, "--json", *extra).stdout)


# Truth: two SFGs (size 2 = Gaussian FWHM, class 3) and one SS-AGN (size 1 = LAS, class 1).
TRUTH = """\
1 -0.300000 -29.700000 -0.300000 -29.700000 1.0e-5 0 1.0 0.5 30 2 3
2 -0.310000 -29.700000 -0.310000 -29.700000 2.0e-5 0 2.0 1.0 60 2 3
3 -0.320000 -29.650000 -0.320100 -29.650000 5.0e-5 0.01 10.0 5.0 200 1 1
"""


class ScoreTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.truth = os.path.join(self.d, "truth.txt")
        write(self.truth, TRUTH)

    def tearDown(self):
        self.tmp.cleanup()

    def test_hand_computed(self):
        # S1 matches T1: 0.5" north, flux +20 %, bmaj 1.5 (+50 %), bmin exact, PA 130 (folds to
        #   40 against 30: 10 deg). Position: 0.5 / sqrt(4*0.625^2 + 0.75^2) = 0.34300 ->
        #   0.3/0.343 = 0.87464; flux 0.1/0.2 = 0.5; bmaj 0.3/0.5 = 0.6; bmin 1; PA 10/10 = 1;
        #   core_frac 1; class 1 -> (0.87464+0.5+0.6+1+1+1+1)/7 = 0.85352.
        # S2 is far from everything: false. S3 sits on T2 with a flux 10x off: multi_d_err =
        #   (9/0.36) = 25 >= 5, rejected (n_bad) and false.
        # S4 matches T3 (an SS-AGN: b_min and PA score 1 whatever): exact core, flux exact,
        #   b_maj given as a Gaussian FWHM 4.71 -> LAS 4.71*2.123 = 9.9993 (acc 7e-5 -> 1),
        #   core_frac 0 vs 0.01: 0.05/(0.01/0.75) = 3.75 -> 1, class 3 vs 1 -> 0:
        #   6/7 = 0.857143.
        # total = 0.85352 + 0.857143 - 2 = -0.28934
        sub = os.path.join(self.d, "sub.txt")
        write(sub, "id ra_core dec_core ra_cent dec_cent flux core_frac b_maj b_min pa size "
              "class\n"
              "1 -0.300000 -29.699861111 -0.300000 -29.699861111 1.2e-5 0 1.5 0.5 130 2 3\n"
              "2 -0.330000 -29.800000 -0.330000 -29.800000 1.0e-5 0 1.0 1.0 0 2 3\n"
              "3 -0.310000 -29.700000 -0.310000 -29.700000 2.0e-4 0 2.0 1.0 60 2 3\n"
              "4 -0.320000 -29.650000 -0.320000 -29.650000 5.0e-5 0 4.71 2.0 0 2 3\n")
        r = score_json(sub, self.truth)
        self.assertEqual(r["n_det"], 4)
        self.assertEqual(r["n_match"], 2)
        self.assertEqual(r["n_bad"], 1)
        self.assertEqual(r["n_false"], 2)
        s1 = (0.3 / (0.5 / math.sqrt(4 * 0.625 ** 2 + 0.75 ** 2)) + 0.5 + 0.6 + 4) / 7
        self.assertAlmostEqual(s1, 0.85352, places=4)
        self.assertAlmostEqual(r["score"], s1 + 6 / 7 - 2, places=4)
        self.assertAlmostEqual(r["score"], -0.28934, places=4)
        self.assertAlmostEqual(r["components"]["class"], 0.5, places=6)
        self.assertAlmostEqual(r["purity"], 0.5, places=6)

    def test_truth_against_itself(self):
        # every component 1, so the score is the number of sources
        r = score_json(self.truth, self.truth)
        self.assertEqual(r["n_match"], 3)
        self.assertAlmostEqual(r["score"], 3.0, places=6)

    def test_zero_sizes_score_nothing(self):
        # 0/0 size accuracies score 0: a point source scored against itself gets 5/7
        t = os.path.join(self.d, "pt.txt")
        write(t, "7 -0.3 -29.7 -0.3 -29.7 1e-5 0 0 0 0 2 3\n")
        r = score_json(t, t)
        self.assertAlmostEqual(r["score"], 5 / 7, places=6)

    def test_one_to_one_and_radius(self):
        # two detections of T1: the one with the lower multi_d_err keeps it, the other is false;
        # a point-like detection 1" away from T2 (match radius sqrt(0 + 0.625^2)") is false
        sub = os.path.join(self.d, "sub.txt")
        write(sub, "header\n"
              "1 -0.300000 -29.70005 -0.300000 -29.70005 1.5e-5 0 1.0 0.5 30 2 3\n"
              "2 -0.300000 -29.70000 -0.300000 -29.70000 1.0e-5 0 1.0 0.5 30 2 3\n"
              "3 -0.310000 -29.700277778 -0.310000 -29.700277778 2.0e-5 0 0 0 60 2 3\n")
        r = score_json(sub, self.truth)
        self.assertEqual(r["n_match"], 1)
        self.assertAlmostEqual(r["score"], 1.0 - 2.0, places=6)

    def test_votable_and_ra_wrap(self):
        # our VOTable columns, RA in [0, 360): same numbers as the text form of S1 alone
        vot = os.path.join(self.d, "s.vot")
        write(vot, """<?xml version="1.0"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
<FIELD name="id" datatype="long"/><FIELD name="ra" datatype="double" unit="deg"/>
<FIELD name="dec" datatype="double" unit="deg"/><FIELD name="objectness" datatype="float"/>
<FIELD name="flux" datatype="float" unit="Jy"/><FIELD name="bmaj" datatype="float"/>
<FIELD name="bmin" datatype="float"/><FIELD name="pa" datatype="float"/>
<DATA><TABLEDATA>
<TR><TD>1</TD><TD>359.7</TD><TD>-29.699861111</TD><TD>0.9</TD><TD>1.2e-5</TD><TD>1.5</TD>
<TD>0.5</TD><TD>130</TD></TR>
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>
""")
        r = score_json(vot, self.truth)
        self.assertEqual(r["n_match"], 1)
        self.assertAlmostEqual(r["score"], 0.85352, places=4)
        # the primary-beam correction divides submitted fluxes: 1.2e-5 / 0.8 = 1.5e-5 (+50 %)
        r = score_json(vot, self.truth, "--pb", "0.8")
        self.assertAlmostEqual(r["components"]["flux"], 0.2, places=4)

    def test_completeness_and_area(self):
        # SNR = flux / sigma: 1e-5/1e-6 = 10, 20, 50; only T1 found -> completeness 1/3
        sub = os.path.join(self.d, "sub.txt")
        write(sub, "h\n1 -0.3 -29.7 -0.3 -29.7 1e-5 0 1.0 0.5 30 2 3\n")
        r = score_json(sub, self.truth, "--sigma", "1e-6")
        self.assertEqual(r["n_truth_snr5"], 3)
        self.assertAlmostEqual(r["completeness_snr5"], 1 / 3, places=6)
        # the challenge area excludes the B1 training box where all of these lie
        r = score_json(sub, self.truth, "--area", "challenge")
        self.assertEqual(r["n_det"], 0)
        self.assertEqual(r["n_truth"], 0)

    def test_bad_input(self):
        bad = os.path.join(self.d, "bad.txt")
        write(bad, "1 2 3\n")
        self.assertEqual(run(ARGS.otf, "score", bad, self.truth, check=False).returncode, 1)
        self.assertEqual(run(ARGS.otf, "score", self.truth, check=False).returncode, 2)


class SynthTests(unittest.TestCase):
    """The generator's truth matches its image."""

    @classmethod
    def setUpClass(cls):
        try:
            from astropy.io import fits  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("astropy not available")
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def field(self, name, *opts, size=512):
        from astropy.io import fits
        img, tru = os.path.join(self.tmp.name, name + ".fits"), \
            os.path.join(self.tmp.name, name + ".txt")
        run(ARGS.synth, "-n", size, "-o", img, "-t", tru, *opts)
        data = fits.getdata(img).squeeze().astype(np.float64)
        t = np.loadtxt(tru, ndmin=2)
        s = np.loadtxt(tru + ".snr", ndmin=2)
        return data, t, s

    def aperture_fluxes(self, data, t, s, min_snr):
        """Aperture fluxes of compact SFGs away from bright neighbours: sum within 3 beam FWHM
        divided by the beam area; with the injected flux (x PB) and the flux (x PB) of the
        other sources whose centre falls in the aperture (an upper bound of their share)."""
        beam_pix = 1.5 / 0.6
        area = math.pi * beam_pix ** 2 / (4 * math.log(2))
        yy, xx = np.mgrid[0:data.shape[0], 0:data.shape[1]]
        app = t[:, 5] * s[:, 3]
        out = []
        for i in np.where((s[:, 5] >= min_snr) & (t[:, 10] == 2) & (t[:, 11] == 3))[0]:
            x, y = s[i, 1], s[i, 2]
            r = 3 * beam_pix
            if not (r + 2 < x < data.shape[1] - r - 2 and r + 2 < y < data.shape[0] - r - 2):
                continue
            d = np.hypot(s[:, 1] - x, s[:, 2] - y)
            if np.any((d > 0) & (d < r + 4 * beam_pix) & (app > 0.1 * app[i])):
                continue
            inside = (d > 0) & (d <= r + beam_pix)
            m = np.hypot(xx - x, yy - y) <= r
            out.append((data[m].sum() / area, app[i], app[inside].sum(), m.sum(), area))
        return np.array(out)

    def test_fluxes_noiseless(self):
        data, t, s = self.field("nn", "-s", 21, "--no-noise", "--density", "0.25", size=1024)
        f = self.aperture_fluxes(data, t, s, 20)
        self.assertGreater(len(f), 10)
        r = f[:, 0] / f[:, 1]
        # the aperture holds all but the far wings (< 1 %); fainter neighbours only add
        self.assertTrue(np.all(r > 0.99), r.min())
        self.assertLess(np.median(np.abs(r - 1)), 0.01)
        self.assertGreater(np.mean(np.abs(r - 1) < 0.03), 0.75)

    def test_fluxes_within_noise(self):
        data, t, s = self.field("wn", "-s", 22, "--density", "0.25", size=1024)
        f = self.aperture_fluxes(data, t, s, 30)
        self.assertGreater(len(f), 10)
        # correlated noise in an aperture of n pixels: sigma * sqrt(n / beam area)
        sig = 3.7e-7 * np.sqrt(f[:, 3] / f[:, 4])
        self.assertTrue(np.all(f[:, 0] > f[:, 1] * 0.99 - 5 * sig))
        self.assertLess(np.median(np.abs(f[:, 0] - f[:, 1]) / sig), 2.0)

    def test_deterministic(self):
        a = self.field("a", "-s", 11)
        b = self.field("b", "-s", 11)
        self.assertTrue(np.array_equal(a[0], b[0]))
        self.assertTrue(np.array_equal(a[1], b[1]))
        c = self.field("c", "-s", 12)
        self.assertFalse(np.array_equal(a[0], c[0]))

    def test_noise_level_and_headers(self):
        from astropy.io import fits
        data, t, s = self.field("noise", "-s", 23, "--no-sources")
        self.assertEqual(len(t), 0)
        self.assertAlmostEqual(data.std() / 3.7e-7, 1.0, delta=0.08)
        # SDC1-like texture by default: the autocorrelation of the real SDC1 1000 h noise
        # (0.63 / 0.08 / -0.10 at lags 1 / 2 / 3 px along x, 0.70 / 0.19 / -0.05 along y);
        # --noise-psf beam: white noise through the 1.5" beam (0.80 / 0.41 / 0.14)
        def acf(d, lag, axis):
            a = d - d.mean()
            b = np.roll(a, -lag, axis=axis)
            sl = [slice(None)] * 2
            sl[axis] = slice(0, a.shape[axis] - lag)
            return float((a[tuple(sl)] * b[tuple(sl)]).mean() / a.var())
        for lag, want in ((1, 0.63), (2, 0.08), (3, -0.10)):
            self.assertAlmostEqual(acf(data, lag, 1), want, delta=0.04)
        for lag, want in ((1, 0.70), (2, 0.19), (3, -0.05)):
            self.assertAlmostEqual(acf(data, lag, 0), want, delta=0.04)
        beam, t, s = self.field("noise_beam", "-s", 23, "--no-sources", "--noise-psf", "beam")
        self.assertAlmostEqual(beam.std() / 3.7e-7, 1.0, delta=0.08)
        for lag, want in ((1, 0.80), (2, 0.41), (3, 0.14)):
            self.assertAlmostEqual(acf(beam, lag, 1), want, delta=0.04)
            self.assertAlmostEqual(acf(beam, lag, 0), want, delta=0.04)
        img = os.path.join(self.tmp.name, "ncp.fits")
        run(ARGS.synth, "-n", 256, "-o", img, "-t", img + ".txt", "--ncp", "--bitpix", "-64",
            "--nan-border", "--header", "plain-2d")
        h = fits.getheader(img)
        self.assertEqual((h["NAXIS"], h["BITPIX"], h["CTYPE1"]), (2, -64, "RA---NCP"))
        d = fits.getdata(img)
        self.assertTrue(np.isnan(d[0, 0]) and np.isfinite(d[128, 128]))


class DemoModelTests(unittest.TestCase):
    """models/demo: engine outputs against PyTorch's on patches of a synthetic test field."""

    def test_engine_matches_pytorch(self):
        try:
            import torch  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("python3-torch not available")
        model = os.path.join(ARGS.source_dir, "models", "demo")
        if not os.path.exists(os.path.join(model, "model.ini")):
            self.fail("models/demo is missing")
        with tempfile.TemporaryDirectory() as d:
            img = os.path.join(d, "f.fits")
            run(ARGS.synth, "-n", 512, "-s", 1001, "-o", img, "-t", img + ".txt")
            for backend in ("reference", "cpu"):
                p = run("/usr/bin/python3", os.path.join(ARGS.source_dir, "tools", "train",
                                                          "check_forward.py"),
                        "--otf", ARGS.otf, "--model", model, "--field", img, "--backend",
                        backend, "--patches", 6, check=False)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--otf", required=True)
    ap.add_argument("--synth", required=True)
    ap.add_argument("--source-dir", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
