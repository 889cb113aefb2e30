"""Harness for the otfd integration tests: start and stop the real server, talk HTTP with the
standard library, build multipart bodies that stream files, write small FITS files, and check
UWS and VOTable documents against the schemas in tests/data/xsd (local files only: the parsers
never touch the network and never expand entities).

Every otfd started here is registered and killed at interpreter exit, whatever happens to the
test that started it.
"""

import atexit
import ctypes
import http.client
import io
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import time
import urllib.parse
import uuid
from pathlib import Path

from lxml import etree

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
MODELS_DIR = DATA / "models"
XSD_DIR = DATA / "xsd"
REAL_DIR = DATA / "real"
REAL_IMAGE = REAL_DIR / "GRB201006A_final_2min_srcs-t0002-image-pb_cutout.fits"

UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
VOT_NS = "http://www.ivoa.net/xml/VOTable/v1.3"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
NS = {"uws": UWS_NS, "vot": VOT_NS, "xlink": "http://www.w3.org/1999/xlink"}
UTC_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

# ---------------------------------------------------------------------------------------------
# Server processes

_LIVE = set()


def _kill_all():
    for proc in list(_LIVE):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _LIVE.clear()


atexit.register(_kill_all)


def _on_term(signum, frame):
    raise SystemExit(128 + signum)  # runs the atexit handler above


signal.signal(signal.SIGTERM, _on_term)
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # Even a SIGKILL of the test process (a CTest timeout) takes its servers with it.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Otfd:
    """One otfd process on 127.0.0.1 with an OS-chosen port, a data dir and a models dir."""

    def __init__(self, otfd, data_dir, *extra, models=MODELS_DIR, name="otfd"):
        self.otfd = str(otfd)
        self.data_dir = Path(data_dir)
        self.models = Path(models)
        self.extra = [str(x) for x in extra]
        self.name = name
        self.proc = None
        self.url = None
        self.log_path = self.data_dir.parent / f"{name}.log"

    def start(self, timeout=90.0):
        ready = self.data_dir.parent / f"{self.name}.ready"
        if ready.exists():
            ready.unlink()
        cmd = [self.otfd, "--listen", "127.0.0.1:0", "--data", str(self.data_dir),
               "--models", str(self.models), "--ready-file", str(ready)] + self.extra
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        finally:
            log.close()
        _LIVE.add(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"otfd exited with {self.proc.returncode} before it was "
                                   f"ready:\n{self.log_tail()}")
            if ready.exists():
                text = ready.read_text()
                if text.endswith("\n"):
                    self.url = text.strip()
                    return self
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError(f"otfd not ready after {timeout} s:\n{self.log_tail()}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30.0):
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _LIVE.discard(self.proc)
        return self.proc.returncode

    def stop_clean(self, timeout=30.0):
        """Stops the server and fails unless it exited with status 0 (under ASan/UBSan a leak or
        a memory error at shutdown makes the status non-zero)."""
        rc = self.stop(timeout)
        if rc != 0:
            raise AssertionError(f"otfd ({self.name}) exited with status {rc}:\n"
                                 f"{self.log_tail(80)}")

    def kill9(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        _LIVE.discard(self.proc)

    def log_tail(self, n=60):
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def client(self, token=None):
        return Client(self.url, token)


# ---------------------------------------------------------------------------------------------
# HTTP


class Resp:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def header(self, name):
        return self.headers.get(name)

    @property
    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return f"<{self.status} {self.reason} {self.content_type} {self.body[:300]!r}>"


def encode_query(params):
    if not params:
        return ""
    if isinstance(params, dict):
        params = list(params.items())
    return "?" + urllib.parse.urlencode(params)


class Client:
    """A minimal HTTP client: one connection per request, redirects never followed."""

    def __init__(self, base, token=None):
        u = urllib.parse.urlsplit(base)
        self.base = base.rstrip("/")
        self.host = u.hostname
        self.port = u.port
        self.token = token

    def request(self, method, path, body=None, headers=None, params=None, timeout=120.0,
                token=None):
        if path.startswith("http://") or path.startswith("https://"):
            u = urllib.parse.urlsplit(path)
            path = u.path + ("?" + u.query if u.query else "")
        h = {"Connection": "close"}
        tok = token if token is not None else self.token
        if tok:
            h["Authorization"] = "Bearer " + tok
        if headers:
            h.update(headers)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        t0 = time.monotonic()
        try:
            conn.request(method, path + encode_query(params), body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Resp(r.status, r.reason, r.headers, data, time.monotonic() - t0)
        finally:
            conn.close()

    def get(self, path, params=None, accept=None, **kw):
        headers = kw.pop("headers", {}) or {}
        if accept:
            headers["Accept"] = accept
        return self.request("GET", path, headers=headers, params=params, **kw)

    def post_form(self, path, fields, **kw):
        body = urllib.parse.urlencode(list(fields.items()) if isinstance(fields, dict)
                                      else list(fields)).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        headers.update(kw.pop("headers", {}) or {})
        return self.request("POST", path, body=body, headers=headers, **kw)

    def post_multipart(self, path, mp, **kw):
        headers = mp.headers()
        headers.update(kw.pop("headers", {}) or {})
        return self.request("POST", path, body=mp.chunks(), headers=headers, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def stream_request(host, port, head, chunks, expect_wait=1.0, timeout=60.0):
    """Sends a raw HTTP request head, waits up to `expect_wait` s for an early answer (as a
    client sending Expect: 100-continue does), then sends the body chunks while watching for an
    answer, and stops sending as soon as one arrives or the server drops the connection.
    Returns (answer bytes, body bytes sent, True if the server dropped the connection)."""
    s = socket.create_connection((host, port), timeout=timeout)
    sent, dropped, answer = 0, False, b""

    def readable(t):
        return bool(select.select([s], [], [], t)[0])

    def recv():
        nonlocal dropped
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            dropped = True
        return data

    try:
        s.sendall(head)
        if readable(expect_wait):
            answer = recv()
            if answer.startswith(b"HTTP/1.1 100"):
                answer = answer.split(b"\r\n\r\n", 1)[1]  # interim answer: send the body
        if not answer and not dropped:
            for chunk in chunks:
                try:
                    s.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    dropped = True
                    break
                sent += len(chunk)
                if readable(0):
                    answer = recv()
                    break
            else:
                if readable(timeout):
                    answer = recv()
        while answer and b"\r\n\r\n" not in answer and not dropped and readable(timeout):
            answer += recv()
    finally:
        s.close()
    return answer, sent, dropped


class Multipart:
    """multipart/form-data whose file parts are read from disk in chunks while sending, so a
    large upload never sits whole in memory on either side."""

    def __init__(self):
        self.boundary = "otf-itest-" + uuid.uuid4().hex
        self.parts = []  # (head bytes, data bytes or None, path or None)

    def field(self, name, value, content_type=None):
        head = f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        data = value if isinstance(value, bytes) else str(value).encode("utf-8")
        self.parts.append(((head + "\r\n").encode(), data, None))
        return self

    def file(self, name, filename, data=None, path=None, content_type="application/fits"):
        head = (f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n')
        self.parts.append((head.encode(), data, Path(path) if path else None))
        return self

    def _tail(self):
        return f"--{self.boundary}--\r\n".encode()

    def length(self):
        n = 0
        for head, data, path in self.parts:
            n += len(head) + (path.stat().st_size if path else len(data)) + 2
        return n + len(self._tail())

    def headers(self):
        return {"Content-Type": f"multipart/form-data; boundary={self.boundary}",
                "Content-Length": str(self.length())}

    def chunks(self, size=65536):
        for head, data, path in self.parts:
            yield head
            if path:
                with open(path, "rb") as f:
                    while True:
                        block = f.read(size)
                        if not block:
                            break
                        yield block
            else:
                for i in range(0, len(data), size):
                    yield data[i:i + size]
            yield b"\r\n"
        yield self._tail()

    def body(self):
        return b"".join(self.chunks())


# ---------------------------------------------------------------------------------------------
# FITS


def _card(key, value=None):
    if key == "END":
        return "END".ljust(80)
    if isinstance(value, bool):
        v = ("T" if value else "F").rjust(20)
    elif isinstance(value, int):
        v = str(value).rjust(20)
    elif isinstance(value, float):
        s = f"{value:.15G}"
        if "." not in s and "E" not in s:
            s += ".0"
        v = s.rjust(20)
    else:
        v = "'" + str(value).ljust(8) + "'"
    return f"{key:<8}= {v}".ljust(80)[:80]


def make_fits(width=64, height=48, bitpix=-32, wcs=True, ra_deg=150.0, dec_deg=2.0,
              pix_deg=0.001):
    """A small primary-HDU image with a TAN WCS centred on (ra_deg, dec_deg)."""
    cards = [("SIMPLE", True), ("BITPIX", bitpix), ("NAXIS", 2), ("NAXIS1", width),
             ("NAXIS2", height)]
    if wcs:
        cards += [("CTYPE1", "RA---TAN"), ("CTYPE2", "DEC--TAN"),
                  ("CRPIX1", (width + 1) / 2.0), ("CRPIX2", (height + 1) / 2.0),
                  ("CRVAL1", float(ra_deg)), ("CRVAL2", float(dec_deg)),
                  ("CDELT1", -float(pix_deg)), ("CDELT2", float(pix_deg)),
                  ("CUNIT1", "deg"), ("CUNIT2", "deg"), ("RADESYS", "ICRS"),
                  ("EQUINOX", 2000.0)]
    cards.append(("BUNIT", "JY/BEAM"))
    header = "".join(_card(k, v) for k, v in cards) + _card("END")
    header += " " * (-len(header) % 2880)
    n = width * height
    if bitpix == -32:
        data = struct.pack(f">{n}f", *[((i * 7919) % 1000) * 1e-6 for i in range(n)])
    elif bitpix == 16:
        data = struct.pack(f">{n}h", *[(i * 31) % 3000 for i in range(n)])
    elif bitpix == 8:
        data = bytes((i * 13) % 256 for i in range(n))
    else:
        raise ValueError(bitpix)
    data += b"\0" * (-len(data) % 2880)
    return header.encode("ascii") + data


# ---------------------------------------------------------------------------------------------
# XML

_SAFE = dict(no_network=True, resolve_entities=False, load_dtd=False, huge_tree=False)
_schemas = {}


def safe_parser():
    return etree.XMLParser(**_SAFE)


def schema(name):
    if name not in _schemas:
        doc = etree.parse(str(XSD_DIR / name), safe_parser())
        _schemas[name] = etree.XMLSchema(doc)
    return _schemas[name]


def parse_xml(body):
    return etree.fromstring(body, safe_parser())


def validate(body, xsd):
    """Parses `body` and validates it; raises AssertionError with the schema's complaints."""
    root = parse_xml(body)
    s = schema(xsd)
    if not s.validate(root):
        errs = "\n".join(str(e) for e in s.error_log)
        raise AssertionError(f"document is not valid against {xsd}:\n{errs}\n"
                             f"{body[:2000].decode('utf-8', 'replace')}")
    return root


def uws(tag):
    return f"{{{UWS_NS}}}{tag}"


def open_bytes(body):
    return io.BytesIO(body)


def env_path(name, default=None):
    v = os.environ.get(name)
    return Path(v) if v else default
