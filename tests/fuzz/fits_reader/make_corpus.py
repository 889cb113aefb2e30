#!/usr/bin/python3
"""Writes the seed corpus of the fits_reader fuzz target (corpus/*.fits, each < 64 KiB): small
images of every BITPIX with BSCALE/BZERO/BLANK, 3-5 axes, a cube, tables, a tile-compressed
image, WCS header variants (NCP, CD, PC001001, CROTA, galactic, latitude first, 4-D), cutouts of
the real images with their full headers, and broken files (truncated, lying NAXIS).
Deterministic; run from anywhere: /usr/bin/python3 make_corpus.py"""
import io
import os
import warnings

import numpy as np
from astropy.io import fits

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
REAL = os.path.join(HERE, "..", "..", "data", "real")
rng = np.random.default_rng(7)
files = {}


def hdul_bytes(hdul):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdul.writeto(buf, output_verify="silentfix")
    return buf.getvalue()


def sky_header(ctype=("RA---SIN", "DEC--SIN"), extra=None):
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = ctype
    h["CRPIX1"], h["CRPIX2"] = 8.5, 6.0
    h["CRVAL1"], h["CRVAL2"] = 0.0, -30.0
    h["CDELT1"], h["CDELT2"] = -1.67e-4, 1.67e-4
    for k, v in (extra or {}).items():
        h[k] = v
    return h


def image(data, header=None, bscale=None, bzero=None, blank=None):
    hdu = fits.PrimaryHDU(data=data, header=header)
    if bscale is not None:
        hdu.header["BSCALE"] = bscale
    if bzero is not None:
        hdu.header["BZERO"] = bzero
    if blank is not None:
        hdu.header["BLANK"] = blank
    return hdul_bytes(fits.HDUList([hdu]))


shape = (12, 16)
for dt, name in [(np.uint8, "b8"), (np.int16, "i16"), (np.int32, "i32"), (np.int64, "i64"),
                 (np.float32, "f32"), (np.float64, "f64")]:
    if np.issubdtype(dt, np.integer):
        d = rng.integers(0, 100, size=shape).astype(dt)
        files["bitpix_%s_scaled.fits" % name] = image(d, sky_header(), bscale=0.5, bzero=3.0,
                                                      blank=int(d.flat[5]))
    else:
        d = rng.normal(size=shape).astype(dt)
        d[2, 3] = np.nan
        files["bitpix_%s_nan.fits" % name] = image(d, sky_header(), blank=-1)
files["axes3.fits"] = image(rng.normal(size=(1,) + shape).astype(np.float32), sky_header())
files["axes4_sdc1.fits"] = image(
    rng.normal(size=(1, 1) + shape).astype(np.float32),
    sky_header(extra={"CTYPE3": "FREQ", "CRVAL3": 5.6e8, "CDELT3": 1.68e8, "CRPIX3": 1.0,
                      "CTYPE4": "STOKES", "CRVAL4": 1.0, "CDELT4": 1.0, "CRPIX4": 1.0,
                      "BMAJ": 4.17e-4, "BMIN": 4.17e-4, "EPOCH": 2000.0, "BUNIT": "JY/BEAM"}))
files["axes5.fits"] = image(rng.normal(size=(1, 1, 1) + shape).astype(np.float32), sky_header())
files["cube.fits"] = image(rng.normal(size=(3,) + shape).astype(np.float32), sky_header())
files["ncp.fits"] = image(np.zeros(shape, np.float32), sky_header(("RA---NCP", "DEC--NCP")))
files["galactic_car.fits"] = image(np.zeros(shape, np.float32),
                                   sky_header(("GLON-CAR", "GLAT-CAR")))
files["lat_first.fits"] = image(np.zeros(shape, np.float32), sky_header(("DEC--TAN", "RA---TAN")))
files["ait_fk4.fits"] = image(np.zeros(shape, np.float32),
                              sky_header(("RA---AIT", "DEC--AIT"), {"EQUINOX": 1950.0}))
h = sky_header(("RA---TAN", "DEC--TAN"))
del h["CDELT1"], h["CDELT2"]
h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = -1e-4, 2e-5, 2e-5, 1e-4
files["cd_matrix.fits"] = image(np.zeros(shape, np.int16), h)
h = sky_header(("RA---TAN", "DEC--TAN"), {"CROTA2": 30.0, "RADECSYS": "FK5"})
files["crota.fits"] = image(np.zeros(shape, np.int16), h)
h = sky_header(("RA---ZEA", "DEC--ZEA"))
for k, v in {"PC001001": 0.9, "PC001002": -0.1, "PC002001": 0.1, "PC002002": 0.9}.items():
    h.append(fits.Card(k, v), useblanks=False)
files["pc001001.fits"] = image(np.zeros(shape, np.float32), h)
files["no_wcs.fits"] = image(np.arange(20, dtype=np.float32).reshape(4, 5))
hdr = fits.Header()
hdr["HISTORY"] = "AIPS   CLEAN BMAJ=  1.3889E-03 BMIN=  1.3889E-03 BPA=   0.00"
files["aips_history.fits"] = image(np.zeros((4, 4), np.float32), hdr)

# Tables only, and an image after a table.
cols = fits.ColDefs([fits.Column(name="a", format="E", array=np.arange(3, dtype=np.float32))])
files["table_only.fits"] = hdul_bytes(fits.HDUList([fits.PrimaryHDU(),
                                                    fits.BinTableHDU.from_columns(cols)]))
files["image_ext.fits"] = hdul_bytes(fits.HDUList([
    fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols),
    fits.ImageHDU(np.ones(shape, np.float32), header=sky_header(), name="SKY")]))
files["compressed.fits"] = hdul_bytes(fits.HDUList([
    fits.PrimaryHDU(), fits.CompImageHDU(rng.integers(0, 1000, size=(20, 24)).astype(np.int32),
                                         header=sky_header(), compression_type="RICE_1",
                                         tile_shape=(10, 12))]))

# Cutouts of the real images with their headers (astropy keeps every card).
for name, out in [("1904-66_SIN.fits", "real_1904_cut.fits"),
                  ("B1_1000h_0.05tr.fits", "real_b1_cut.fits"),
                  ("GRB201006A_final_2min_srcs-t0002-image-pb_cutout.fits", "real_grb_cut.fits")]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(os.path.join(REAL, name)) as hl:
            hd = hl[0].header.copy()
            data = hl[0].data
            sub = data[..., :24, :24].copy()
            hd["NAXIS1"], hd["NAXIS2"] = 24, 24
            files[out] = hdul_bytes(fits.HDUList([fits.PrimaryHDU(sub, hd)]))

# Broken files.
good = files["bitpix_f32_nan.fits"]
files["truncated_data.fits"] = good[:2880 + 100]
files["truncated_header.fits"] = good[:1000]
lying = bytearray(good)
i = lying.find(b"NAXIS2  =")
lying[i:i + 30] = b"NAXIS2  =              9999999"
files["lying_naxis2.fits"] = bytes(lying)
lying = bytearray(good)
i = lying.find(b"NAXIS   =")
lying[i:i + 30] = b"NAXIS   =                    3"
files["lying_naxis.fits"] = bytes(lying)
files["not_fits.fits"] = b"hello, this is not a FITS file\n" * 100

os.makedirs(OUT, exist_ok=True)
for name, data in sorted(files.items()):
    assert len(data) < 64 * 1024, (name, len(data))
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print("%d files in %s" % (len(files), OUT))
