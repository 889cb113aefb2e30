#!/usr/bin/python3
"""Compares the fits module's pixel <-> sky conversions (through wcs_dump) with astropy's for
many pixels of every real image in tests/data/real: agreement within 0.01 arcsec on the sky and
the equivalent in pixels for the inverse. Usage: test_wcs_astropy.py WCS_DUMP DATA_DIR.
Exits 77 (skip) when astropy is not installed."""
import math
import subprocess
import sys
import warnings

try:
    import numpy as np
    from astropy.io import fits
    from astropy.wcs import WCS
except ImportError:
    print("astropy/numpy not available: skipped")
    sys.exit(77)

TOL_ARCSEC = 0.01
IMAGES = [
    "1904-66_SIN.fits",
    "B1_1000h_0.05tr.fits",
    "GRB201006A_final_2min_srcs-t0002-image-pb_cutout.fits",
]


def sep_arcsec(ra1, dec1, ra2, dec2):
    d2r = math.pi / 180.0
    s = np.sin((dec2 - dec1) * d2r / 2) ** 2 + np.cos(dec1 * d2r) * np.cos(dec2 * d2r) * np.sin(
        (ra2 - ra1) * d2r / 2) ** 2
    return 2 * np.arcsin(np.sqrt(np.clip(s, 0, 1))) / d2r * 3600.0


def run_dump(dump, path, points, inverse=False):
    cmd = [dump] + (["--inverse"] if inverse else []) + [path]
    text = "".join("%.17g %.17g\n" % (a, b) for a, b in points)
    out = subprocess.run(cmd, input=text, capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    head = lines[0].split()
    rows = np.array([[float(v) for v in l.split()] for l in lines[1:]])
    return head, rows


def check_image(dump, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = fits.getheader(path)
        wcs = WCS(header).celestial
    w, h = header["NAXIS1"], header["NAXIS2"]
    rng = np.random.default_rng(12345)
    # A grid over the image (pixel centres and edges), random fractional positions, and a
    # margin beyond the edges.
    gx, gy = np.meshgrid(np.linspace(-0.5, w - 0.5, 17), np.linspace(-0.5, h - 0.5, 13))
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    pts = np.vstack([pts, rng.uniform([-10, -10], [w + 10, h + 10], size=(300, 2))])
    head, rows = run_dump(dump, path, pts)
    assert int(head[1]) == w and int(head[2]) == h, head
    ours = rows[:, 2:4]
    ref = wcs.all_pix2world(pts, 0)
    ok = np.isfinite(ref).all(axis=1)
    assert ok.sum() > 0.9 * len(pts), "astropy has too few valid positions"
    assert np.isfinite(ours[ok]).all(), "NaN where astropy has a position"
    assert ((ours[ok, 0] >= 0) & (ours[ok, 0] < 360)).all(), "RA not in [0, 360)"
    d = sep_arcsec(ours[ok, 0], ours[ok, 1], ref[ok, 0], ref[ok, 1])
    worst = float(d.max())
    assert worst < TOL_ARCSEC, "%s: pixel->sky differs by %.3g arcsec" % (path, worst)

    # The inverse, with RA given in (-180, 180] to exercise the wrap.
    sky = ref[ok].copy()
    sky[:, 0] = np.where(sky[:, 0] > 180, sky[:, 0] - 360, sky[:, 0])
    _, back = run_dump(dump, path, sky, inverse=True)
    pix = wcs.all_world2pix(ref[ok], 0)
    scale_arcsec = float(head[5]) * 3600.0
    dpix = np.hypot(back[:, 2] - pix[:, 0], back[:, 3] - pix[:, 1])
    worst_inv = float(dpix.max()) * scale_arcsec
    assert worst_inv < TOL_ARCSEC, "%s: sky->pixel differs by %.3g arcsec" % (path, worst_inv)
    print("%s: %d points, worst %.2e arcsec (pix->sky), %.2e arcsec (sky->pix), frame %s" %
          (path.split("/")[-1], int(ok.sum()), worst, worst_inv, head[3]))


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    dump, data = sys.argv[1], sys.argv[2]
    for name in IMAGES:
        check_image(dump, data + "/" + name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
