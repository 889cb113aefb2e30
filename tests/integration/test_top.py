#!/usr/bin/python3
"""Integration test of otf-top (DESIGN §9; issue 6) driven through tmux.

The real otfd runs without workers (queued jobs stay QUEUED), jobs are created with the `otf`
CLI, and otf-top runs in a detached tmux session (TERM=xterm-256color, then without colour):
`capture-pane` must show the jobs, `send-keys` selects one and aborts it ('a', 'y'), and the
server must confirm the abort; the details view, the phase filter, a resize and deletion ('d')
are checked the same way.

Usage: test_top.py --otf-top PATH --otf PATH --otfd PATH [unittest options]
Exits 77 (skipped) when tmux is not installed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

from uws_harness import REAL_DIR, Otfd

OTF_TOP = OTF = OTFD = None
IMG = REAL_DIR / "1904-66_SIN.fits"


def tmux(*args, check=True):
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True,
                          check=check, timeout=30)


SOCKET = f"otf-top-test-{os.getpid()}"


class TopTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="otf-top-"))
        cls.srv = Otfd(OTFD, cls.tmp / "data", "--workers", "0", name="top")
        cls.srv.start()
        cls.url = cls.srv.url
        cls.ids = []
        for _ in range(3):
            p = subprocess.run([OTF, "--url", cls.url, "submit", IMG, "-m", "tiny"],
                               capture_output=True, text=True, timeout=60, check=True)
            cls.ids.append(p.stdout.strip())
            time.sleep(0.02)  # distinct creation times: otf-top lists newest first

    @classmethod
    def tearDownClass(cls):
        tmux("kill-server", check=False)
        sock = Path(f"/tmp/tmux-{os.getuid()}") / SOCKET  # tmux leaves its socket file behind
        if sock.is_socket():
            sock.unlink()
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.session = None

    def tearDown(self):
        if self.session:
            tmux("kill-session", "-t", self.session, check=False)

    def start_top(self, name, term, *extra, width=120, height=30):
        env = f"env -u NO_COLOR TERM={term} HOME={self.tmp} XDG_CONFIG_HOME={self.tmp}"
        cmd = (f"{env} {OTF_TOP} --url {self.url} --interval 0.5 -o {self.tmp / 'saved'} "
               + " ".join(extra) + f"; echo otf-top-exit=$?; sleep 30")
        tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), cmd)
        self.session = name

    def screen(self):
        return tmux("capture-pane", "-p", "-t", self.session).stdout

    def wait_screen(self, pattern, timeout=20.0):
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if re.search(pattern, text, re.M):
                return text
            time.sleep(0.2)
        self.fail(f"screen never showed {pattern!r}:\n{text}")

    def keys(self, *keys):
        for k in keys:
            tmux("send-keys", "-t", self.session, k)
            time.sleep(0.15)

    def phase(self, job_id):
        req = urllib.request.Request(f"{self.url}/jobs/{job_id}/phase")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.read().decode().strip()
        except urllib.error.HTTPError as e:
            return e.code

    def select(self, job_id):
        """Moves the selection (reverse video is not in capture-pane: count rows) to job_id."""
        text = self.wait_screen(re.escape(job_id))
        rows = [ln.split()[0] for ln in text.splitlines()
                if re.match(r"^[a-z0-9]{8,}\s", ln)]
        # 'g' goes to the first row ("Home" depends on how tmux and TERM encode it)
        self.keys("g")
        for _ in range(rows.index(job_id)):
            self.keys("Down")

    def test_1_jobs_abort_details_filter_resize(self):
        self.start_top("top1", "xterm-256color")
        text = self.wait_screen(r"Queues: tiny/FP32=3")
        for j in self.ids:
            self.assertRegex(text, rf"(?m)^{j}\s+-\s+tiny\s+FP32\s+QUEUED\s+\[\.+\]")
        self.assertRegex(text, r"Jobs: QUEUED 3")
        self.assertRegex(text, r"Resident: -\s+Patches/s: -")
        # abort the middle job with 'a' then 'y'
        target = self.ids[1]
        self.select(target)
        self.keys("a")
        self.wait_screen(rf"Abort job {target}\? \(y/n\)")
        self.keys("y")
        deadline = time.monotonic() + 20
        while self.phase(target) != "ABORTED" and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.phase(target), "ABORTED", "the server did not abort the job")
        self.assertEqual(self.phase(self.ids[0]), "QUEUED", "another job was touched")
        self.assertEqual(self.phase(self.ids[2]), "QUEUED", "another job was touched")
        text = self.wait_screen(rf"(?m)^{target}\s+-\s+tiny\s+FP32\s+ABORTED")
        self.assertIn(f"job {target} aborted", text)
        self.wait_screen(r"Queues: tiny/FP32=2")
        # 'n' cancels: nothing happens to the next job
        self.select(self.ids[0])
        self.keys("a", "n")
        self.wait_screen("cancelled")
        time.sleep(1)
        self.assertEqual(self.phase(self.ids[0]), "QUEUED")
        # details of the aborted job
        self.select(target)
        self.keys("Enter")
        text = self.wait_screen(rf"job {target}.*\n(.*\n)*.*phase\s+ABORTED")
        self.assertRegex(text, r"parameters\s+model = tiny")
        self.keys("Escape")
        self.wait_screen(r"q quit")
        # filter: f cycles ALL -> PENDING -> QUEUED -> EXECUTING -> COMPLETED -> ERROR -> ABORTED
        self.keys("f", "f", "f", "f", "f", "f")
        text = self.wait_screen(r"filter: ABORTED")
        self.assertIn(target, text)
        self.assertNotIn(self.ids[0], text)
        self.keys("F", "F", "F", "F")
        text = self.wait_screen(r"filter: QUEUED")
        self.assertNotIn(target, text)
        self.assertIn(self.ids[0], text)
        # resize: the dashboard redraws at the new size
        tmux("resize-window", "-t", self.session, "-x", "70", "-y", "14")
        text = self.wait_screen(r"filter: QUEUED")
        self.assertTrue(all(len(ln) <= 70 for ln in text.splitlines()))
        self.assertIn(self.ids[0], text)
        tmux("resize-window", "-t", self.session, "-x", "140", "-y", "40")
        self.wait_screen(rf"(?m)^{self.ids[0]}\s+-\s+tiny")
        self.keys("q")
        self.wait_screen(r"otf-top-exit=0")

    def test_2_no_colour_delete(self):
        # no colour at all (a terminal without colours, and --no-color), still usable
        self.start_top("top2", "vt100", "--no-color")
        self.wait_screen(rf"(?m)^{self.ids[2]}\s+-\s+tiny\s+FP32\s+QUEUED")
        self.select(self.ids[2])
        self.keys("d")
        self.wait_screen(rf"Delete job {self.ids[2]}\? \(y/n\)")
        self.keys("y")
        deadline = time.monotonic() + 20
        while self.phase(self.ids[2]) != 404 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.phase(self.ids[2]), 404, "the server still has the job")
        text = self.wait_screen(rf"job {self.ids[2]} deleted")
        self.assertNotRegex(text, rf"(?m)^{self.ids[2]}\s")
        # saving the results of a job that has none says so
        self.select(self.ids[0])
        self.keys("s")
        self.wait_screen(rf"job {self.ids[0]} has no results \(phase QUEUED\)")
        self.keys("q")
        self.wait_screen(r"otf-top-exit=0")

    def test_3_unreachable_server_does_not_freeze(self):
        # A server that goes away: the screen keeps answering keys and says why.
        self.start_top("top3", "xterm-256color", "--request-timeout", "1")
        self.wait_screen(r"Queues:")
        self.srv.stop()
        try:
            self.wait_screen(r"^! .*(Couldn't connect|Failed to connect|refused)", timeout=20)
            t0 = time.monotonic()
            self.keys("h")
            self.wait_screen(r"otf-top keys", timeout=5)
            self.assertLess(time.monotonic() - t0, 5)
            self.keys("Escape", "q")
            self.wait_screen(r"otf-top-exit=0", timeout=10)
        finally:
            self.srv.start()
            type(self).url = self.srv.url


def main():
    global OTF_TOP, OTF, OTFD
    argv = list(sys.argv)
    vals = {}
    for opt in ("--otf-top", "--otf", "--otfd"):
        if opt in argv:
            i = argv.index(opt)
            vals[opt] = argv[i + 1]
            del argv[i:i + 2]
    OTF_TOP, OTF, OTFD = vals.get("--otf-top"), vals.get("--otf"), vals.get("--otfd")
    if not all(p and os.access(p, os.X_OK) for p in (OTF_TOP, OTF, OTFD)):
        print("test_top.py: give --otf-top, --otf and --otfd", file=sys.stderr)
        return 2
    if not shutil.which("tmux"):
        print("test_top.py: tmux is not installed: skipped", file=sys.stderr)
        return 77
    OTF_TOP, OTF, OTFD = (str(Path(p).resolve()) for p in (OTF_TOP, OTF, OTFD))
    prog = unittest.main(argv=argv, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
