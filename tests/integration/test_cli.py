#!/usr/bin/python3
"""Integration tests of the `otf` service commands (DESIGN §9, §11; docs/cli.md; issue 6).

The real otfd of this build runs on 127.0.0.1 (OS-chosen ports, temporary data folders, the
fixture models of tests/data/models, the real images of tests/data/real) and the `otf` binary
drives it: every command, --json parsed and checked, the documented exit code of each outcome,
and the server's own view checked over raw HTTP. Three servers:

* `run`: one worker process, so jobs really complete (results fetched and compared);
* `broken`: a copy of the models whose weights are corrupted after the server started, so the
  worker fails to load the model and the job really ends in ERROR;
* `auth`: no workers (jobs stay QUEUED), bearer tokens and a queue bound of one job (503).

Bad servers are small Python socket servers: a port nobody listens on, one that never answers,
one answering 404 pages, garbage bodies, 500 and 503 (Retry-After). The CLI must print one clear
line and exit with its documented code, never crash or hang (every call has a deadline).

Usage: test_cli.py --otf PATH/TO/otf --otfd PATH/TO/otfd [unittest options]
"""

import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

from lxml import etree

from uws_harness import MODELS_DIR, REAL_DIR, Otfd

OTF = None
OTFD = None

IMG_A = REAL_DIR / "GRB201006A_final_2min_srcs-t0002-image-pb_cutout.fits"
IMG_B = REAL_DIR / "B1_1000h_0.05tr.fits"
TABLE_FITS = REAL_DIR / "1904_comp.fits"  # a binary table, no image HDU

# Exit codes (docs/cli.md): part of the contract, so spelled out here rather than imported.
OK, FAIL, USAGE, JOB_ERROR, JOB_ABORTED, TIMEOUT, NOTFOUND, NETWORK, SERVER, REFUSED, AUTH = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)

VOT_NS = "http://www.ivoa.net/xml/VOTable/v1.3"


class Run:
    def __init__(self, proc, elapsed):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.elapsed = elapsed

    def json(self):
        return json.loads(self.out)

    def err_lines(self):
        return [ln for ln in self.err.splitlines() if ln.strip()]

    def __repr__(self):
        return f"rc={self.rc} ({self.elapsed:.1f}s)\nstdout:\n{self.out}\nstderr:\n{self.err}"


def otf(*args, env=None, timeout=120, url=None, token=None):
    """Runs the otf binary; never inherits the caller's OTF_* settings or config file."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("OTF_")}
    e["XDG_CONFIG_HOME"] = str(EMPTY_CONFIG)
    e["HOME"] = str(EMPTY_CONFIG)
    if url:
        e["OTF_URL"] = url
    if token:
        e["OTF_TOKEN"] = token
    e.update(env or {})
    t0 = time.monotonic()
    p = subprocess.run([OTF, *map(str, args)], capture_output=True, text=True, env=e,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return Run(p, time.monotonic() - t0)


def http_get(url, path, token=None, accept="application/json"):
    u = url.split("//", 1)[1]
    host, port = u.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    h = {"Accept": accept}
    if token:
        h["Authorization"] = f"Bearer {token}"
    c.request("GET", path, headers=h)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


EMPTY_CONFIG = None


class CliCase(unittest.TestCase):
    def assertRc(self, run, rc):
        self.assertFalse(run.rc < 0, f"killed by signal {-run.rc}: {run!r}")
        self.assertEqual(run.rc, rc, repr(run))

    def assertOneLine(self, run, *needles):
        lines = run.err_lines()
        self.assertEqual(len(lines), 1, f"expected one line on stderr: {run!r}")
        for n in needles:
            self.assertIn(n, lines[0], repr(run))
        self.assertNotIn("Traceback", run.err)


# =============================================================================================


class RunningServer(CliCase):
    """A server with a worker: submit, wait, fetch, status, list, results, delete, models."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="otf-cli-"))
        cls.srv = Otfd(OTFD, cls.tmp / "data", "--workers", "1", "--engine.threads", "2",
                       name="run")
        cls.srv.start()
        cls.url = cls.srv.url

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def job(self, job_id):
        st, body = http_get(self.url, f"/jobs/{job_id}")
        return st, (json.loads(body) if st == 200 else None)

    def test_help_for_every_command(self):
        r = otf("--help")
        self.assertRc(r, OK)
        for cmd in ("submit", "status", "list", "wait", "results", "fetch", "abort", "delete",
                    "models"):
            self.assertIn(cmd, r.out)
            h = otf(cmd, "--help")
            self.assertRc(h, OK)
            self.assertTrue(h.out.startswith(f"usage: otf {cmd}"), h.out)
            self.assertIn("--json", h.out)
            self.assertIn("--url", h.out)

    def test_models(self):
        r = otf("models", url=self.url)
        self.assertRc(r, OK)
        self.assertRegex(r.out, r"(?m)^tiny\s+fp32,bf16\s+Tiny test network")
        j = otf("models", "--json", url=self.url)
        self.assertRc(j, OK)
        cards = j.json()["models"]
        self.assertEqual([c["id"] for c in cards], ["tiny"])
        self.assertEqual(cards[0]["input"]["infer_patch"], [64, 64])
        # global options before the command, and --url=VALUE
        g = otf(f"--url={self.url}", "--json", "models")
        self.assertRc(g, OK)
        self.assertEqual(g.json()["models"][0]["id"], "tiny")

    def test_submit_wait_fetch_lifecycle(self):
        out = self.tmp / "out1"
        r = otf("submit", IMG_A, IMG_B, "--model", "tiny", "--wait", "-o", out, "--timeout",
                "300", "--json", url=self.url, timeout=400)
        self.assertRc(r, OK)
        doc = r.json()
        self.assertEqual(doc["exit"], 0)
        self.assertEqual(len(doc["jobs"]), 2, "two files make two jobs")
        ids = []
        for item, src in zip(doc["jobs"], (IMG_A, IMG_B)):
            self.assertEqual(item["source"], str(src))
            self.assertEqual(item["phase"], "COMPLETED")
            self.assertIsNone(item["error"])
            self.assertEqual(item["job"]["jobId"], item["jobId"])
            names = {f["name"] for f in item["files"]}
            self.assertEqual(names, {r["id"] for r in item["job"]["results"]})
            self.assertIn("catalog", names)
            for f in item["files"]:
                p = Path(f["path"])
                self.assertTrue(p.is_file(), p)
                self.assertEqual(p.stat().st_size, f["size"])
                self.assertEqual(p.parent, out)
                # byte for byte what the server serves
                st, body = http_get(self.url, f"/jobs/{item['jobId']}/results/{f['name']}",
                                    accept="*/*")
                self.assertEqual(st, 200)
                self.assertEqual(body, p.read_bytes(), f["name"])
            cat = etree.parse(str(out / f"{item['jobId']}_catalog.vot"),
                              etree.XMLParser(resolve_entities=False, no_network=True))
            self.assertEqual(cat.getroot().tag, f"{{{VOT_NS}}}VOTABLE")
            if "preview" in names:
                self.assertEqual((out / f"{item['jobId']}_preview.png").read_bytes()[:8],
                                 b"\x89PNG\r\n\x1a\n")
            ids.append(item["jobId"])
            # the server agrees
            st, sj = self.job(item["jobId"])
            self.assertEqual((st, sj["phase"]), (200, "COMPLETED"))
        self.assertEqual(list(out.glob("*.part-*")), [], "no partial files left")

        # status
        s = otf("status", ids[0], "--json", url=self.url)
        self.assertRc(s, OK)
        sj = s.json()
        self.assertEqual((sj["jobId"], sj["phase"]), (ids[0], "COMPLETED"))
        self.assertEqual(sj["parameters"]["model"], "tiny")
        self.assertGreater(sj["jobInfo"]["patchesTotal"], 0)
        self.assertEqual(sj["jobInfo"]["patchesDone"], sj["jobInfo"]["patchesTotal"])
        s = otf("status", ids[0], url=self.url)
        self.assertRc(s, OK)
        self.assertRegex(s.out, r"(?m)^phase\s+COMPLETED$")
        self.assertRegex(s.out, r"(?m)^progress\s+(\d+)/\1 patches")

        # results
        rs = otf("results", ids[1], "--json", url=self.url)
        self.assertRc(rs, OK)
        rj = rs.json()
        self.assertEqual(rj["jobId"], ids[1])
        self.assertIn("catalog", [x["id"] for x in rj["results"]])
        for x in rj["results"]:
            self.assertTrue(x["href"].startswith(f"{self.url}/jobs/{ids[1]}/results/"))
        rs = otf("results", ids[1], url=self.url)
        self.assertRc(rs, OK)
        self.assertRegex(rs.out, r"(?m)^catalog\s+application/x-votable\+xml")

        # fetch: by name, into another folder; an unknown name is the server's 404
        out2 = self.tmp / "out2"
        f = otf("fetch", ids[1], "catalog", "-o", out2, "--json", url=self.url)
        self.assertRc(f, OK)
        fj = f.json()
        self.assertEqual([x["name"] for x in fj["files"]], ["catalog"])
        self.assertEqual(Path(fj["files"][0]["path"]).read_bytes(),
                         (out / f"{ids[1]}_catalog.vot").read_bytes())
        f = otf("fetch", ids[1], "nosuch", "-o", out2, url=self.url)
        self.assertRc(f, NOTFOUND)
        self.assertOneLine(f, "no result 'nosuch'", "HTTP 404")
        f = otf("fetch", ids[1], "-o", out2, url=self.url)
        self.assertRc(f, OK)
        self.assertEqual(len(f.out.split()), len(rj["results"]))

        # wait on finished jobs returns at once with 0
        w = otf("wait", *ids, url=self.url)
        self.assertRc(w, OK)
        self.assertEqual(w.out.split("\n")[0], f"{ids[0]} COMPLETED")

        # list with filters
        ls = otf("list", "--json", "--phase", "COMPLETED", url=self.url)
        self.assertRc(ls, OK)
        listed = {j["jobId"] for j in ls.json()["jobs"]}
        self.assertTrue(set(ids) <= listed)
        ls = otf("list", "--json", "--phase", "completed", "--last", "1", url=self.url)
        self.assertRc(ls, OK)
        self.assertEqual(len(ls.json()["jobs"]), 1)
        ls = otf("list", "--json", "--phase", "ERROR,HELD", url=self.url)
        self.assertRc(ls, OK)
        self.assertEqual(ls.json()["jobs"], [])
        ls = otf("list", "--json", "--after", "2999-01-01T00:00:00Z", url=self.url)
        self.assertRc(ls, OK)
        self.assertEqual(ls.json()["jobs"], [])
        ls = otf("list", url=self.url)
        self.assertRc(ls, OK)
        self.assertRegex(ls.out, rf"(?m)^{ids[0]}\s+COMPLETED\s")
        self.assertRc(otf("list", "--phase", "DONE", url=self.url), USAGE)
        self.assertRc(otf("list", "--last", "0", url=self.url), USAGE)
        self.assertRc(otf("list", "--after", "yesterday", url=self.url), USAGE)

        # delete: the server forgets the job
        d = otf("delete", ids[0], "--json", url=self.url)
        self.assertRc(d, OK)
        self.assertEqual(d.json()["jobs"][0], {"jobId": ids[0], "deleted": True, "exit": 0})
        self.assertEqual(self.job(ids[0])[0], 404)
        s = otf("status", ids[0], url=self.url)
        self.assertRc(s, NOTFOUND)
        self.assertOneLine(s, "no such job", "HTTP 404")
        s = otf("status", ids[0], "--json", url=self.url)
        self.assertRc(s, NOTFOUND)
        self.assertEqual(s.json()["exit"], NOTFOUND)
        self.assertEqual(s.json()["http"], 404)
        self.assertRc(otf("delete", ids[0], url=self.url), NOTFOUND)

    def test_submit_plain_output_and_parameters(self):
        # --pending keeps the job from running, so its parameters can be read back as sent.
        r = otf("submit", IMG_A, "-m", "tiny", "--precision", "bf16", "--roi", "0,0,64,64",
                "-P", "THRESHOLD=0.3", "--run-id", "cli-test", "--pending", url=self.url)
        self.assertRc(r, OK)
        job_id = r.out.strip()
        self.assertRegex(job_id, r"^[a-z0-9]+$", "plain output is the job id alone")
        st, j = self.job(job_id)
        self.assertEqual(j["phase"], "PENDING")
        self.assertEqual(j["runId"], "cli-test")
        self.assertEqual(j["parameters"]["precision"], "BF16")
        self.assertEqual(j["parameters"]["roi"], "0,0,64,64")
        self.assertEqual(j["parameters"]["threshold"], "0.3")
        # abort -> ABORTED (exit 0), then wait reports it with exit 4
        a = otf("abort", job_id, url=self.url)
        self.assertRc(a, OK)
        self.assertEqual(a.out.strip(), f"{job_id} ABORTED")
        self.assertEqual(self.job(job_id)[1]["phase"], "ABORTED")
        w = otf("wait", job_id, "--json", url=self.url)
        self.assertRc(w, JOB_ABORTED)
        self.assertEqual(w.json()["jobs"][0]["phase"], "ABORTED")
        self.assertEqual(w.json()["exit"], JOB_ABORTED)
        # aborting a finished job is refused by the server (409)
        a = otf("abort", job_id, url=self.url)
        self.assertRc(a, REFUSED)
        self.assertOneLine(a, "HTTP 409")
        # an aborted job has no results
        f = otf("fetch", job_id, "-o", self.tmp / "none", url=self.url)
        self.assertRc(f, NOTFOUND)
        self.assertOneLine(f, "has no results", "ABORTED")

    def test_submit_errors(self):
        r = otf("submit", IMG_A, "-m", "nosuchmodel", url=self.url)
        self.assertRc(r, NOTFOUND)
        self.assertOneLine(r, "unknown model 'nosuchmodel'")
        r = otf("submit", TABLE_FITS, "-m", "tiny", url=self.url)
        self.assertRc(r, REFUSED)
        self.assertOneLine(r, "HTTP 400", "image")
        r = otf("submit", self.tmp / "missing.fits", "-m", "tiny", url=self.url)
        self.assertRc(r, FAIL)
        self.assertOneLine(r, "missing.fits", "No such file")
        r = otf("submit", IMG_A, "-m", "tiny", "--roi", "0,0,x,1", url=self.url)
        self.assertRc(r, USAGE)
        r = otf("submit", IMG_A, url=self.url)
        self.assertRc(r, USAGE)
        self.assertIn("--model", r.err)
        r = otf("submit", IMG_A, "-m", "tiny", "--roi", "0,0,8,8", "--ra", "1", "--dec", "2",
                url=self.url)
        self.assertRc(r, USAGE)
        r = otf("submit", IMG_A, "-m", "tiny", "--bogus", url=self.url)
        self.assertRc(r, USAGE)
        r = otf("submit", IMG_A, "-m", "tiny", "--precision", "FP64", url=self.url)
        self.assertRc(r, REFUSED)
        # several files, one refused (the image check runs when a job is queued): the others
        # are still submitted, the exit code is the first failure's and --json reports each
        r = otf("submit", TABLE_FITS, IMG_A, "-m", "tiny", "--json", url=self.url)
        self.assertRc(r, REFUSED)
        jobs = r.json()["jobs"]
        self.assertIsNone(jobs[0]["jobId"])
        self.assertEqual(jobs[0]["exit"], REFUSED)
        self.assertIn("HTTP 400", jobs[0]["error"])
        self.assertEqual(jobs[1]["exit"], OK)
        self.assertEqual(self.job(jobs[1]["jobId"])[0], 200)
        self.assertRc(otf("delete", jobs[1]["jobId"], url=self.url), OK)
        # usage errors of other commands
        self.assertRc(otf("status", url=self.url), USAGE)
        self.assertRc(otf("status", "a", "b", url=self.url), USAGE)
        self.assertRc(otf("wait", url=self.url), USAGE)
        self.assertRc(otf("wait", "x", "--timeout", "soon", url=self.url), USAGE)
        self.assertRc(otf("status", "../etc", url=self.url), USAGE)
        self.assertRc(otf("nosuchcommand"), USAGE)
        self.assertRc(otf("--url"), USAGE)

    def test_settings_sources(self):
        # No URL anywhere: a usage error that says where to put one.
        r = otf("models")
        self.assertRc(r, USAGE)
        self.assertIn("OTF_URL", r.err)
        # Config file (XDG_CONFIG_HOME/otf/config, INI)
        cfg = self.tmp / "xdg"
        (cfg / "otf").mkdir(parents=True, exist_ok=True)
        (cfg / "otf" / "config").write_text(f"# test\nurl = {self.url}\n")
        r = otf("models", env={"XDG_CONFIG_HOME": str(cfg)})
        self.assertRc(r, OK)
        # OTF_URL beats the config file, --url beats OTF_URL
        (cfg / "otf" / "config").write_text("url = http://127.0.0.1:1\n")
        self.assertRc(otf("models", "--retries", "0", env={"XDG_CONFIG_HOME": str(cfg)}),
                      NETWORK)
        self.assertRc(otf("models", env={"XDG_CONFIG_HOME": str(cfg)}, url=self.url), OK)
        self.assertRc(otf("models", "--url", self.url,
                          env={"XDG_CONFIG_HOME": str(cfg), "OTF_URL": "http://127.0.0.1:1"}),
                      OK)
        # --config names a file; a broken or missing one is a usage error
        alt = self.tmp / "alt.ini"
        alt.write_text(f"[otf]\nurl={self.url}\n")
        self.assertRc(otf("models", "--config", alt), OK)
        self.assertRc(otf("models", "--config", self.tmp / "nope.ini"), USAGE)
        alt.write_text("this is not ini [\n")
        self.assertRc(otf("models", "--config", alt), USAGE)


class ErrorJob(CliCase):
    """A job that really ends in ERROR: the model's weights are corrupted after the server has
    read its manifest, so the worker's model load fails its SHA-256 check."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="otf-cli-err-"))
        shutil.copytree(MODELS_DIR, cls.tmp / "models")
        cls.srv = Otfd(OTFD, cls.tmp / "data", "--workers", "1", models=cls.tmp / "models",
                       name="broken")
        cls.srv.start()
        (cls.tmp / "models" / "tiny" / "net.dat").write_bytes(b"\0" * 4096)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_job_error(self):
        url = self.srv.url
        r = otf("submit", IMG_A, "-m", "tiny", "--wait", "--timeout", "120", "-o", self.tmp,
                url=url, timeout=200)
        self.assertRc(r, JOB_ERROR)
        job_id = r.out.split()[0]
        self.assertEqual(r.out.split()[:2], [job_id, "ERROR"])
        self.assertOneLine(r, f"job {job_id} failed", "SHA-256")
        w = otf("wait", job_id, "--json", url=url)
        self.assertRc(w, JOB_ERROR)
        self.assertEqual(w.json()["jobs"][0]["job"]["errorSummary"]["type"], "fatal")
        s = otf("status", job_id, url=url)
        self.assertRc(s, OK)  # status reads a job; it does not judge it
        self.assertRegex(s.out, r"(?m)^error\s+.*SHA-256")
        st, body = http_get(url, f"/jobs/{job_id}")
        self.assertEqual(json.loads(body)["phase"], "ERROR")


class AuthQueue(CliCase):
    """Tokens, a queue bound of one job (503 + Retry-After), timeouts of `wait`; no workers."""

    TOKENS = {"alice": "tok-alice-cli-0123", "bob": "tok-bob-cli-4567"}

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="otf-cli-auth-"))
        tf = cls.tmp / "tokens"
        tf.write_text("".join(f"{hashlib.sha256(t.encode()).hexdigest()} {o}\n"
                              for o, t in cls.TOKENS.items()))
        cls.srv = Otfd(OTFD, cls.tmp / "data", "--workers", "0", "--http.tokens_file", tf,
                       "--queue.max_jobs", "1", name="auth")
        cls.srv.start()
        cls.url = cls.srv.url

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_tokens_queue_timeout(self):
        alice, bob = self.TOKENS["alice"], self.TOKENS["bob"]
        r = otf("models", url=self.url)
        self.assertRc(r, AUTH)
        self.assertOneLine(r, "HTTP 401")
        self.assertRc(otf("models", "--token", "wrong", url=self.url), AUTH)
        r = otf("submit", IMG_A, "-m", "tiny", url=self.url, token=alice)
        self.assertRc(r, OK)
        job_id = r.out.strip()
        st, body = http_get(self.url, f"/jobs/{job_id}", token=alice)
        self.assertEqual((st, json.loads(body)["ownerId"]), (200, "alice"))
        # bob cannot see alice's job
        r = otf("status", job_id, url=self.url, token=bob)
        self.assertRc(r, NOTFOUND)
        self.assertEqual(otf("list", "--json", url=self.url, token=bob).json()["jobs"], [])
        # wait --timeout: still QUEUED after 1.5 s -> exit 5, no longer than needed
        w = otf("wait", job_id, "--timeout", "1.5", url=self.url, token=alice)
        self.assertRc(w, TIMEOUT)
        self.assertEqual(w.out.strip(), f"{job_id} QUEUED")
        self.assertOneLine(w, "timed out", "QUEUED")
        self.assertGreaterEqual(w.elapsed, 1.4)
        self.assertLess(w.elapsed, 15)
        # the queue holds one job: the next submission gets 503 + Retry-After; the client
        # retries once (waiting Retry-After) and then exits with the server code
        t0 = time.monotonic()
        r = otf("submit", IMG_A, "-m", "tiny", "--retries", "1", url=self.url, token=alice)
        self.assertRc(r, SERVER)
        self.assertOneLine(r, "queue is full", "HTTP 503")
        self.assertGreaterEqual(time.monotonic() - t0, 4.5, "Retry-After: 5 not honoured")
        # results of a queued job: an empty list (exit 0); fetch has nothing to fetch
        rs = otf("results", job_id, "--json", url=self.url, token=alice)
        self.assertRc(rs, OK)
        self.assertEqual(rs.json(), {"jobId": job_id, "phase": "QUEUED", "results": []})
        f = otf("fetch", job_id, "catalog", "-o", self.tmp, url=self.url, token=alice)
        self.assertRc(f, NOTFOUND)
        self.assertOneLine(f, "no result 'catalog'")
        # abort frees the queue
        a = otf("abort", job_id, "--json", url=self.url, token=alice)
        self.assertRc(a, OK)
        self.assertEqual(a.json()["jobs"][0]["phase"], "ABORTED")
        r = otf("submit", IMG_A, "-m", "tiny", "--json", url=self.url, token=alice)
        self.assertRc(r, OK)
        self.assertEqual(r.json()["jobs"][0]["phase"], "QUEUED")


# =============================================================================================
# Bad servers


class BadServer:
    """A TCP server on 127.0.0.1 answering every request with `answer` (bytes), or never
    answering when `answer` is None. Counts the requests it read."""

    def __init__(self, answer):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests = 0
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            if self.answer is None:
                continue  # never read, never answer
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            c.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.requests += 1
            c.sendall(self.answer)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def answer(status, ctype, body, extra=""):
    b = body.encode() if isinstance(body, str) else body
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(b)}\r\n"
            f"{extra}Connection: close\r\n\r\n").encode() + b


class BadServers(CliCase):
    def run_all(self, url, expect, *needles, extra=()):
        """status, list, models and results against `url`: one line, the documented code."""
        for args in (("status", "abc"), ("list",), ("models",), ("results", "abc"),
                     ("wait", "abc", "--timeout", "5")):
            r = otf(*args, *extra, url=url, timeout=60)
            self.assertRc(r, expect)
            self.assertOneLine(r, *needles)
            j = otf(*args, *extra, "--json", url=url, timeout=60)
            self.assertRc(j, expect)
            self.assertEqual(j.json()["exit"], expect)

    def test_unreachable(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nobody listens there now
        url = f"http://127.0.0.1:{port}"
        self.run_all(url, NETWORK, url, extra=("--retries", "0"))
        # with retries it still ends, after a bounded backoff
        r = otf("status", "abc", "--retries", "2", url=url)
        self.assertRc(r, NETWORK)
        self.assertLess(r.elapsed, 20)
        r = otf("submit", IMG_A, "-m", "tiny", "--retries", "0", url=url)
        self.assertRc(r, NETWORK)
        self.assertOneLine(r)

    def test_slow_server_times_out(self):
        srv = BadServer(None)
        try:
            r = otf("status", "abc", "--request-timeout", "1", url=srv.url, timeout=30)
            self.assertRc(r, TIMEOUT)
            self.assertOneLine(r, "no answer in time")
            self.assertLess(r.elapsed, 10)
            # an upload that the server never reads stalls, and stops too
            r = otf("submit", IMG_B, "-m", "tiny", "--request-timeout", "1", url=srv.url,
                    timeout=60)
            self.assertRc(r, TIMEOUT)
            self.assertOneLine(r)
            self.assertLess(r.elapsed, 20)
            # a WAIT adds its wait to the timeout, but still ends
            r = otf("wait", "abc", "--timeout", "1", "--request-timeout", "1", url=srv.url,
                    timeout=60)
            self.assertRc(r, TIMEOUT)
            self.assertLess(r.elapsed, 20)
        finally:
            srv.close()

    def test_404_pages(self):
        srv = BadServer(answer("404 Not Found", "text/html", "<html><h1>Nope</h1></html>"))
        try:
            self.run_all(srv.url, NOTFOUND, "not found (HTTP 404)")
        finally:
            srv.close()

    def test_garbage_bodies(self):
        srv = BadServer(answer("200 OK", "application/json", b"\x00\xffgarbage{[\"oops"))
        try:
            self.run_all(srv.url, SERVER, "no valid")
        finally:
            srv.close()
        srv = BadServer(answer("200 OK", "application/json", "{\"jobs\": 42, \"models\": 1}"))
        try:
            for args in (("list",), ("models",), ("status", "x")):
                r = otf(*args, url=srv.url)
                self.assertRc(r, SERVER)
                self.assertOneLine(r)
        finally:
            srv.close()

    def test_server_errors(self):
        srv = BadServer(answer("500 Internal Server Error", "text/html", "<b>boom</b>"))
        try:
            self.run_all(srv.url, SERVER, "server error (HTTP 500)")
        finally:
            srv.close()
        busy = answer("503 Service Unavailable", "application/json",
                      '{"error": "the queue is full (3 jobs): retry later", "status": 503}',
                      "Retry-After: 1\r\n")
        srv = BadServer(busy)
        try:
            r = otf("status", "abc", "--retries", "2", url=srv.url)
            self.assertRc(r, SERVER)
            self.assertOneLine(r, "the queue is full", "HTTP 503")
            self.assertEqual(srv.requests, 3, "one try and two retries")
            self.assertGreaterEqual(r.elapsed, 1.8, "Retry-After: 1 honoured twice")
        finally:
            srv.close()


def main():
    global OTF, OTFD, EMPTY_CONFIG
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
    OTF = OTF or os.environ.get("OTF_BIN")
    OTFD = OTFD or os.environ.get("OTFD")
    if not OTF or not OTFD or not os.access(OTF, os.X_OK) or not os.access(OTFD, os.X_OK):
        print("test_cli.py: give --otf PATH and --otfd PATH", file=sys.stderr)
        return 2
    OTF = str(Path(OTF).resolve())
    OTFD = str(Path(OTFD).resolve())
    EMPTY_CONFIG = Path(tempfile.mkdtemp(prefix="otf-cli-home-"))
    try:
        prog = unittest.main(argv=argv, exit=False, verbosity=2)
    finally:
        shutil.rmtree(EMPTY_CONFIG, ignore_errors=True)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
