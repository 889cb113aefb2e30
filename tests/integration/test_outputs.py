#!/usr/bin/python3
"""Integration test of `otf detect` outputs on the real images of tests/data/real.

For every image, runs the whole offline pipeline with the tiny fixture model (random weights:
the point is that the pipeline runs end to end and writes valid files, not that it finds real
sources) and checks:
  * the VOTable (TABLEDATA and BINARY2) passes `stilts votlint` and parses with astropy with
    every warning turned into an error, with the FIELDs, units and UCDs of DESIGN §10;
  * both serialisations hold the same rows; pixel -> sky agrees with astropy's WCS;
  * the PROV-JSON parses with python3-prov, the PROV-N file is produced;
  * the DS9 region file loads with python3-regions, one shape per catalogue row;
  * the PNG preview is a PNG of the expected size;
  * a region of interest limits the catalogue, bad arguments exit 2, failures exit 1.
Exit 77 (CTest SKIP) when a required tool is missing.

usage: test_outputs.py OTF_BINARY SOURCE_DIR
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import warnings

try:
    import numpy as np
    from astropy import units as u
    from astropy.io import fits
    from astropy.io.votable import parse
    from astropy.wcs import WCS
    from prov.model import ProvDocument
    import regions
except ImportError as e:  # pragma: no cover
    print("skip: missing python module: %s" % e)
    sys.exit(77)

IMAGES = [
    "1904-66_SIN.fits",
    "B1_1000h_0.05tr.fits",
    "GRB201006A_final_2min_srcs-t0002-image-pb_cutout.fits",
]
FIELDS = {  # name: (unit, ucd, datatype)
    "id": (None, "meta.id;meta.main", "long"),
    "ra": ("deg", "pos.eq.ra;meta.main", "double"),
    "dec": ("deg", "pos.eq.dec;meta.main", "double"),
    "x": ("pixel", "pos.cartesian.x;instr.pixel", "double"),
    "y": ("pixel", "pos.cartesian.y;instr.pixel", "double"),
    "width": ("pixel", "phys.size;instr.pixel", "float"),
    "height": ("pixel", "phys.size;instr.pixel", "float"),
    "objectness": (None, "stat.probability", "float"),
    "probability": (None, "stat.likelihood", "float"),
    "flux": ("Jy", "phot.flux.density;em.radio", "float"),
    "bmaj": ("arcsec", "phys.angSize.smajAxis", "float"),
    "detector": (None, "meta.code", "short"),
    "class": (None, "meta.code.class", "short"),
}

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg)


def run(args, expect=0):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(p.returncode == expect,
          "%s -> exit %d (want %d): %s" % (" ".join(args), p.returncode, expect, p.stderr.strip()))
    return p


def strict_parse(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return parse(path, verify="warn")


def votlint(path):
    p = subprocess.run(["stilts", "votlint", "validate=true", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    out = p.stdout.strip()
    check(p.returncode == 0 and out == "", "votlint %s: %s" % (os.path.basename(path), out))


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    otf, src = sys.argv[1], sys.argv[2]
    if not shutil.which("stilts"):
        print("skip: stilts not installed")
        return 77
    model = os.path.join(src, "tests", "data", "models", "tiny")
    real = os.path.join(src, "tests", "data", "real")
    tmp = tempfile.mkdtemp(prefix="otf_outputs_")
    try:
        for name in IMAGES:
            img = os.path.join(real, name)
            stem = os.path.join(tmp, os.path.splitext(name)[0])
            run([otf, "detect", img, "--model", model, "-q", "--backend", "reference",
                 "-o", stem + ".vot", "--regions", stem + ".reg", "--preview", stem + ".png",
                 "--provenance", stem + ".json"])
            run([otf, "detect", img, "--model", model, "-q", "--backend", "reference",
                 "--binary2", "-o", stem + "_b2.vot", "--provenance", stem + ".provn"])
            for vot in (stem + ".vot", stem + "_b2.vot"):
                votlint(vot)
            try:
                t1 = strict_parse(stem + ".vot").get_first_table()
                t2 = strict_parse(stem + "_b2.vot").get_first_table()
            except Exception as e:  # a warning turned error, or a parse error
                check(False, "astropy %s: %s" % (name, e))
                continue
            a1, a2 = t1.array, t2.array
            check(len(a1) == len(a2), "%s: TABLEDATA %d rows, BINARY2 %d" % (name, len(a1), len(a2)))
            check(len(a1) > 0, "%s: empty catalogue" % name)
            for f in t1.fields:
                if f.name in FIELDS:
                    unit, ucd, dt = FIELDS[f.name]
                    check((f.unit is None) if unit is None else (f.unit == u.Unit(unit)),
                          "%s: %s unit %s" % (name, f.name, f.unit))
                    check(f.ucd == ucd, "%s: %s ucd %s" % (name, f.name, f.ucd))
                    check(f.datatype == dt, "%s: %s datatype %s" % (name, f.name, f.datatype))
            names = [f.name for f in t1.fields]
            for must in ("id", "ra", "dec", "x", "y", "width", "height", "objectness",
                         "probability", "detector"):
                check(must in names, "%s: no FIELD %s" % (name, must))
            check(any(i.name == "QUERY_STATUS" and i.value == "OK"
                      for i in strict_parse(stem + ".vot").resources[0].infos),
                  "%s: no INFO QUERY_STATUS=OK" % name)
            # same rows in both serialisations (the two runs are deterministic)
            for col, tol in (("id", 0), ("x", 5e-4), ("y", 5e-4), ("objectness", 5e-7),
                             ("ra", 5e-9), ("dec", 5e-9)):
                check(np.allclose(np.asarray(a1[col], float), np.asarray(a2[col], float),
                                  rtol=0, atol=tol),
                      "%s: column %s differs between TABLEDATA and BINARY2" % (name, col))
            # positions: 0-based pixels -> sky with astropy's celestial WCS, within 0.01 arcsec
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                w = WCS(fits.getheader(img)).celestial
            sky = w.pixel_to_world_values(np.asarray(a1["x"], float), np.asarray(a1["y"], float))
            r1, d1 = np.radians(np.asarray(a1["ra"], float)), np.radians(np.asarray(a1["dec"], float))
            r2, d2 = np.radians(sky[0]), np.radians(sky[1])
            hav = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
            sep = np.degrees(2 * np.arcsin(np.sqrt(np.clip(hav, 0, 1)))) * 3600.0
            check(np.nanmax(sep) < 0.01 if len(sep) else True,
                  "%s: sky positions differ from astropy by %.4g arcsec" % (name, np.nanmax(sep)))
            check(np.all((np.asarray(a1["ra"]) >= 0) & (np.asarray(a1["ra"]) < 360)),
                  "%s: RA outside [0, 360)" % name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the B1 cutout's invalid BLANK
                hdr = fits.getheader(img)
            check(np.all((a1["x"] >= -0.5) & (a1["x"] < hdr["NAXIS1"] - 0.5)),
                  "%s: x outside the image" % name)
            # objectness descending
            obj = np.asarray(a1["objectness"])
            check(np.all(obj[:-1] >= obj[1:]), "%s: rows not in objectness order" % name)
            # provenance
            try:
                doc = ProvDocument.deserialize(stem + ".json")
                provn = doc.get_provn()
                check("wasGeneratedBy" in provn and "used(" in provn,
                      "%s: provenance lacks used/wasGeneratedBy" % name)
            except Exception as e:
                check(False, "python3-prov %s: %s" % (name, e))
            with open(stem + ".provn") as f:
                text = f.read()
            check(text.startswith("document") and text.rstrip().endswith("endDocument"),
                  "%s: PROV-N layout" % name)
            # regions: one shape per row
            try:
                regs = regions.Regions.read(stem + ".reg", format="ds9")
                check(len(regs) == len(a1), "%s: %d regions for %d rows" % (name, len(regs), len(a1)))
            except Exception as e:
                check(False, "python3-regions %s: %s" % (name, e))
            # PNG: signature and size (max side 1024, here the image size)
            with open(stem + ".png", "rb") as f:
                head = f.read(24)
            check(head[:8] == b"\x89PNG\r\n\x1a\n", "%s: not a PNG" % name)
            pw, ph = struct.unpack(">II", head[16:24])
            check((pw, ph) == (hdr["NAXIS1"], hdr["NAXIS2"]), "%s: PNG %dx%d" % (name, pw, ph))

        # a region of interest: every centre inside it
        img = os.path.join(real, IMAGES[2])
        out = os.path.join(tmp, "roi.vot")
        run([otf, "detect", img, "--model", model, "-q", "--roi", "50,60,150,120", "-o", out])
        a = strict_parse(out).get_first_table().array
        check(np.all((a["x"] >= 49.5) & (a["x"] < 149.5) & (a["y"] >= 59.5) & (a["y"] < 119.5)),
              "roi: centres outside the region")
        # sky region on the B1 cutout (RA around 359.65, across no wrap but near it)
        out = os.path.join(tmp, "sky.vot")
        run([otf, "detect", os.path.join(real, IMAGES[1]), "--model", model, "-q",
             "--ra", "-0.34", "--dec", "-29.68", "--size", "0.01", "-o", out])
        # usage errors -> 2, failures -> 1
        run([otf, "detect"], expect=2)
        run([otf, "detect", img], expect=2)
        run([otf, "detect", img, "--model", model, "--roi", "1,2,3"], expect=2)
        run([otf, "detect", img, "--model", model, "--precision", "fp7"], expect=2)
        run([otf, "detect", img, "--model", model, "--ra", "1"], expect=2)
        run([otf, "detect", os.path.join(tmp, "missing.fits"), "--model", model, "-q"], expect=1)
        run([otf, "detect", img, "--model", os.path.join(tmp, "nomodel"), "-q"], expect=1)
        p = run([otf, "detect", "--help"])
        check("usage: otf detect" in p.stdout, "--help text")
        p = run([otf, "detect", img, "--model", model, "-o", "-"])
        check(p.stdout.startswith("<?xml") and p.stderr.count("\n") <= 2,
              "stdout output / quiet when piped")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
