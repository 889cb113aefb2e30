#!/usr/bin/python3
"""SAMP sending of `otf` (docs/cli.md "otf samp"; SAMP 1.3 Standard Profile; issue 6).

A real SAMP hub (astropy.samp, lockfile in a temp dir named by SAMP_HUB) and a receiver
subscribed to table.load.votable; the real otfd of this build with one worker and the tiny
model. `otf submit --wait --samp` and `otf samp ID` must make the hub deliver table.load.votable
whose URL downloads a VOTable with the same rows as the job's catalogue. Without a hub: one
line and exit 11. Skips (77) without astropy.samp or in a build without SAMP support.

Usage: test_samp.py --otf PATH/TO/otf --otfd PATH/TO/otfd
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
from pathlib import Path

from lxml import etree

from uws_harness import REAL_DIR, Otfd

try:
    from astropy.samp import SAMPHubServer, SAMPIntegratedClient
except ImportError:  # pragma: no cover - depends on the machine
    SAMPHubServer = None

OTF = None
OTFD = None
IMG = REAL_DIR / "GRB201006A_final_2min_srcs-t0002-image-pb_cutout.fits"
OK, NOTFOUND, SAMP = 0, 6, 11
VOT_NS = "{http://www.ivoa.net/xml/VOTable/v1.3}"


def otf(*args, env=None, timeout=300):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("OTF_", "SAMP_"))}
    e["HOME"] = str(TMP / "home")
    e["XDG_CONFIG_HOME"] = str(TMP / "home")
    e.update(env or {})
    return subprocess.run([OTF, *map(str, args)], capture_output=True, text=True, env=e,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def rows(vot_bytes):
    root = etree.fromstring(vot_bytes, etree.XMLParser(resolve_entities=False, no_network=True))
    trs = root.findall(f".//{VOT_NS}TABLEDATA/{VOT_NS}TR")
    return [[td.text for td in tr.findall(f"{VOT_NS}TD")] for tr in trs]


TMP = None


class Receiver:
    """A SAMP client subscribed to table.load.votable that records what it is sent."""

    def __init__(self, hub):
        self.got = []
        self.event = threading.Event()
        self.client = SAMPIntegratedClient(name="test receiver")
        self.client.connect(hub=hub)
        self.client.bind_receive_notification("table.load.votable", self.on_notify)

    def on_notify(self, private_key, sender_id, mtype, params, extra):
        self.got.append((sender_id, mtype, dict(params)))
        self.event.set()

    def wait(self, timeout=20):
        ok = self.event.wait(timeout)
        self.event.clear()
        return ok

    def close(self):
        self.client.disconnect()


class SampCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        (TMP / "home").mkdir(exist_ok=True)
        cls.lockfile = TMP / "samp.lock"
        cls.hub = SAMPHubServer(web_profile=False, lockfile=str(cls.lockfile), timeout=0)
        cls.hub.start(wait=False)
        cls.env = {"SAMP_HUB": f"std-lockurl:file://{cls.lockfile}"}
        cls.rx = Receiver(cls.hub)
        cls.srv = Otfd(OTFD, TMP / "data", "--workers", "1", "--engine.threads", "2",
                       name="samp")
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.rx.close()
        cls.hub.stop()

    def check_message(self, job_id, name):
        self.assertTrue(self.rx.wait(), "the receiver got no table.load.votable")
        sender, mtype, params = self.rx.got[-1]
        self.assertEqual(mtype, "table.load.votable")
        self.assertEqual(params["table-id"], f"{job_id}-catalog")
        self.assertEqual(params["name"], name)
        url = params["url"]
        self.assertTrue(url.startswith(self.srv.url), url)
        with urllib.request.urlopen(url, timeout=30) as r:
            sent = r.read()
        with urllib.request.urlopen(f"{self.srv.url}/jobs/{job_id}/results/catalog",
                                    timeout=30) as r:
            ref = r.read()
        got_rows = rows(sent)
        self.assertEqual(got_rows, rows(ref))
        self.assertGreater(len(got_rows), 0, "the catalogue has detections")
        # the sender has unregistered after sending
        self.assertNotIn(sender, self.rx.client.get_registered_clients())

    def test_1_submit_wait_samp(self):
        out = TMP / "out"
        r = otf("submit", IMG, "--model", "tiny", "--wait", "--samp", "-o", out, "--timeout",
                "240", "--url", self.srv.url, env=self.env)
        self.assertEqual(r.returncode, OK, r)
        job_id = r.stdout.split()[0]
        self.assertIn("sent the catalogue of job", r.stderr)
        self.assertIn("1 SAMP client", r.stderr)
        self.check_message(job_id, f"otf job {job_id}")
        # the file fetched by --wait holds the same rows
        self.assertEqual(rows((out / f"{job_id}_catalog.vot").read_bytes()),
                         rows(urllib.request.urlopen(self.rx.got[-1][2]["url"]).read()))
        type(self).job_id = job_id

    def test_2_samp_command(self):
        job_id = getattr(type(self), "job_id", None)
        if not job_id:
            self.skipTest("no completed job")
        r = otf("samp", job_id, "--name", "my field", "--url", self.srv.url, "--json",
                env=self.env)
        self.assertEqual(r.returncode, OK, r)
        self.assertIn('"sampReceivers": 1', r.stdout)
        self.check_message(job_id, "my field")
        # an unknown job: not found, nothing sent
        r = otf("samp", "nosuchjob", "--url", self.srv.url, env=self.env)
        self.assertEqual(r.returncode, NOTFOUND, r)

    def test_3_no_hub(self):
        # no lockfile (SAMP_HUB naming a missing file; HOME without .samp): checked first
        for env in ({"SAMP_HUB": f"std-lockurl:file://{TMP}/nolock"}, {}):
            t0 = time.monotonic()
            r = otf("samp", "anyjob", "--url", self.srv.url, env=env)
            self.assertEqual(r.returncode, SAMP, r)
            lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn("no SAMP hub running", lines[0])
            self.assertLess(time.monotonic() - t0, 20)
        r = otf("submit", IMG, "--model", "tiny", "--wait", "--samp", "--url", self.srv.url,
                "--json")
        self.assertEqual(r.returncode, SAMP, r)
        self.assertIn('"kind": "samp"', r.stdout)
        job_id = getattr(type(self), "job_id", None)
        if not job_id:
            self.skipTest("no completed job")
        # a stale lockfile (nobody listening on its port) and a malformed one
        stale = TMP / "stale.lock"
        stale.write_text("samp.secret=abc\nsamp.hub.xmlrpc.url=http://127.0.0.1:9/xmlrpc\n")
        bad = TMP / "bad.lock"
        bad.write_text("not a lockfile\n")
        for path, needle in ((stale, "no SAMP hub answers"), (bad, "bad SAMP lockfile")):
            r = otf("samp", job_id, "--url", self.srv.url,
                    env={"SAMP_HUB": f"std-lockurl:file://{path}"})
            self.assertEqual(r.returncode, SAMP, r)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(needle, r.stderr)
        # --samp needs --wait
        r = otf("submit", IMG, "--model", "tiny", "--samp", "--url", self.srv.url)
        self.assertEqual(r.returncode, 2, r)


def main():
    global OTF, OTFD, TMP
    argv = list(sys.argv)
    for opt in ("--otf", "--otfd"):
        if opt in argv:
            i = argv.index(opt)
            val = argv[i + 1]
            del argv[i:i + 2]
            if opt == "--otf":
                OTF = val
            else:
                OTFD = val
    if not OTF or not OTFD:
        print("test_samp.py: give --otf PATH and --otfd PATH", file=sys.stderr)
        return 2
    if SAMPHubServer is None:
        print("test_samp.py: astropy.samp is not available (Debian python3-astropy): skipped")
        return 77
    TMP = Path(tempfile.mkdtemp(prefix="otf-samp-"))
    try:
        (TMP / "home").mkdir()
        probe = otf("samp", "x", "--url", "http://127.0.0.1:9",
                    env={"SAMP_HUB": f"std-lockurl:file://{TMP}/none"})
        if "without SAMP support" in probe.stderr:
            print("test_samp.py: otf was built without SAMP support: skipped")
            return 77
        prog = unittest.main(argv=argv, exit=False, verbosity=2)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
