#!/usr/bin/python3
"""End-to-end tests of the workers and the batching scheduler (DESIGN §2, §3, §4; issue 5).

The real otfd runs on 127.0.0.1 with an OS-chosen port, a temporary data directory, its worker
processes and the knobs of each test; a temporary models folder holds the fixture model `tiny`
and `tiny2`, a copy of it under another id. Jobs are driven over HTTP and checked through their
job documents, their result files (the catalogue's PARAM batch_id, precision, model_id) and the
worker counters of /metrics:

  * concurrent submissions form batches exactly as configured (min_jobs, max_jobs,
    max_wait_ms, max_patches);
  * a lone job starts at once when min_jobs is 1, and waits for max_wait_ms when a batch cannot
    form;
  * two models and two precisions interleave without loads beyond the residency policy;
  * ABORT and the execution-duration limit stop a running job between micro-batches;
  * two owners share a worker (the one who floods the queue does not starve the other);
  * a job longer than the worker's claim lease runs once;
  * kill -9 of a worker mid-batch, and of otfd mid-batch followed by a restart on the same data
    directory: every accepted job ends COMPLETED (or ERROR with a summary), none is left QUEUED or
    EXECUTING, and the worker processes of a killed otfd do not outlive it;
  * results are served with their MIME types, progress is visible while a job runs.

Timing assertions are bounds with wide margins only (the suite runs on loaded 2-core machines);
every wait has a generous timeout and says what it waited for.

Usage: test_batching.py --otfd PATH/TO/otfd [unittest options]   (or OTFD=PATH in the env)
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from datetime import datetime
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from uws_harness import MODELS_DIR, REAL_IMAGE, Multipart, Otfd, parse_xml

OTFD = None  # set by main()

OTF_NS = "urn:cianna-otf"
LONG = 300.0   # the longest any single wait may take (loaded machine)
FINAL = ("COMPLETED", "ERROR", "ABORTED")


def summary(doc):
    """The errorSummary message of a JSON job document ("" when there is none)."""
    return ((doc.get("errorSummary") or {}).get("message") or "").strip()


def write_fits(path, size, seed=1):
    """A size x size float32 noise image with a SIN WCS (values inside the model's bounds)."""
    rng = np.random.default_rng(seed)
    data = (rng.random((size, size), dtype=np.float32) * 2e-5).astype(">f4")
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crpix = [size / 2.0, size / 2.0]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.cdelt = [-4e-4, 4e-4]
    hdr = w.to_header()
    hdr["BUNIT"] = "JY/BEAM"
    fits.PrimaryHDU(data, header=hdr).writeto(path, overwrite=True)
    return Path(path)


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        labels = {}
        if "{" in head:
            name, rest = head.split("{", 1)
            for part in rest.rstrip("}").split('",'):
                if part:
                    k, v = part.split("=", 1)
                    labels[k] = v.strip('"')
        else:
            name = head
        out.append((name, labels, float(value)))
    return out


def pids_of_workers(otfd_pid):
    """Worker processes started by the otfd with this pid (pgrep -f -- --worker-id, children of
    that otfd only: other servers may run on the same machine)."""
    r = subprocess.run(["pgrep", "-P", str(otfd_pid), "-f", "--", "--worker-id"],
                       capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


class Server:
    """An otfd with its client and helpers; workers it started are killed at cleanup too."""

    def __init__(self, case, name, *extra, tokens=None):
        self.case = case
        self.name = name
        self.extra = [str(x) for x in extra]
        self.tokens = tokens
        self.otfd = None
        self.seen_workers = set()
        self.start()

    def start(self):
        self.otfd = Otfd(OTFD, self.case.tmp / f"{self.name}-data", *self.extra,
                         models=self.case.models, name=self.name)
        self.otfd.start()
        self.url = self.otfd.url
        self.seen_workers.update(self.workers())

    def workers(self):
        if not self.otfd.alive():
            return []
        pids = pids_of_workers(self.otfd.proc.pid)
        self.seen_workers.update(pids)
        return pids

    def cleanup(self):
        self.workers()
        self.otfd.stop()
        for pid in self.seen_workers:
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def client(self, owner=None):
        return self.otfd.client(self.tokens[owner] if owner else None)


class BatchingCase(unittest.TestCase):
    """A temp dir with a models folder (tiny, tiny2) and the images the tests use."""

    tmp = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="otf-batch-"))
        cls.models = cls.tmp / "models"
        cls.models.mkdir()
        for mid in ("tiny", "tiny2"):
            shutil.copytree(MODELS_DIR / "tiny", cls.models / mid)
        cls.small = REAL_IMAGE  # a real cutout: 25 patches of tiny
        cls.images = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def image(cls, size, seed=1):
        key = (size, seed)
        if key not in cls.images:
            cls.images[key] = write_fits(cls.tmp / f"noise{size}-{seed}.fits", size, seed)
        return cls.images[key]

    def server(self, name, *extra, tokens=None):
        srv = Server(self, name, *extra, tokens=tokens)
        self.addCleanup(srv.cleanup)
        return srv

    # ---- requests ----

    def submit(self, c, model="tiny", image=None, run=True, **params):
        mp = Multipart()
        mp.field("MODEL", model)
        for k, v in params.items():
            mp.field(k.upper(), v)
        if run:
            mp.field("PHASE", "RUN")
        path = Path(image or self.small)
        mp.file("image", path.name, path=path)
        r = c.post_multipart("/jobs", mp, timeout=LONG)
        self.assertEqual(r.status, 303, r)
        loc = r.header("Location")
        return loc.rsplit("/", 1)[1]

    def submit_many(self, c, n, **kw):
        """n submissions at once from n threads; returns their ids in submission order."""
        ids = [None] * n
        errors = []

        def one(i):
            try:
                ids[i] = self.submit(c, **kw)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(LONG)
        self.assertFalse(errors, errors)
        self.assertNotIn(None, ids)
        return ids

    def run_job(self, c, job_id):
        r = c.post_form(f"/jobs/{job_id}/phase", {"PHASE": "RUN"})
        self.assertEqual(r.status, 303, r)

    def info(self, c, job_id):
        r = c.get(f"/jobs/{job_id}", accept="application/json")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def wait_for(self, what, fn, timeout=LONG, srv=None, period=0.1):
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.monotonic() > deadline:
                log = ("\n" + srv.otfd.log_tail()) if srv else ""
                self.fail(f"timed out after {timeout:.0f} s waiting for {what}{log}")
            time.sleep(period)

    def wait_final(self, c, ids, timeout=LONG, srv=None):
        """Waits until every job is COMPLETED, ERROR or ABORTED; returns {id: JSON document}."""
        docs = {}

        def done():
            for i in ids:
                if i not in docs:
                    d = self.info(c, i)
                    if d["phase"] in FINAL:
                        docs[i] = d
            return len(docs) == len(ids)

        self.wait_for(f"{len(ids)} jobs to end", done, timeout, srv, period=0.25)
        return docs

    def metrics(self, c):
        r = c.get("/metrics")
        self.assertEqual(r.status, 200, r)
        return parse_metrics(r.text())

    def metric(self, c, name, **labels):
        """Sum of a metric over the series that match the labels given."""
        return sum(v for n, lab, v in self.metrics(c)
                   if n == name and all(lab.get(k) == w for k, w in labels.items()))

    def catalog_params(self, c, job_id):
        r = c.get(f"/jobs/{job_id}/results/catalog")
        self.assertEqual(r.status, 200, r)
        root = parse_xml(r.body)
        return {e.get("name"): e.get("value") for e in root.iter()
                if isinstance(e.tag, str) and e.tag.endswith("}PARAM")}

    def assert_completed(self, docs):
        for i, d in docs.items():
            self.assertEqual(d["phase"], "COMPLETED", f"job {i}: {d.get('errorSummary')}")


# =============================================================================================


class BatchFormationTest(BatchingCase):

    def test_concurrent_jobs_form_the_configured_batches(self):
        """--batch.min_jobs 4 --batch.max_jobs 4: 8 concurrent jobs -> exactly 2 batches of 4
        (max_wait_ms is long, so only a full batch can start), each micro-batch packs patches
        of several images, and every job's jobInfo (XML and JSON) and catalogue name its
        batch."""
        srv = self.server("b44", "--workers", 1, "--batch.min_jobs", 4, "--batch.max_jobs", 4,
                          "--batch.max_wait_ms", 60000, "--batch.max_patches", 16)
        c = srv.client()
        ids = self.submit_many(c, 8)
        docs = self.wait_final(c, ids, srv=srv)
        self.assert_completed(docs)
        self.assertEqual(self.metric(c, "otf_batches_total"), 2)
        self.assertEqual(self.metric(c, "otf_batch_jobs_total"), 8)
        per_job = docs[ids[0]]["jobInfo"]["patchesTotal"]
        self.assertGreater(per_job, 16, "the test image should need more than one micro-batch")
        for d in docs.values():
            self.assertEqual(d["jobInfo"]["patchesDone"], per_job)
            self.assertEqual(d["jobInfo"]["patchesTotal"], per_job)
        self.assertEqual(self.metric(c, "otf_patches_total"), 8 * per_job)
        # Patches of the 4 images of a batch fill whole micro-batches (only the last is short).
        self.assertEqual(self.metric(c, "otf_microbatches_total"), 2 * -(-4 * per_job // 16))
        batches = {}
        for i in ids:
            p = self.catalog_params(c, i)
            self.assertEqual(p["job_id"], i)
            self.assertEqual(docs[i]["jobInfo"]["batch"], p["batch_id"])
            root = parse_xml(c.get(f"/jobs/{i}").body)
            self.assertEqual(root.find(f".//{{{OTF_NS}}}batch").text, p["batch_id"])
            batches.setdefault(p["batch_id"], []).append(i)
        self.assertEqual(sorted(len(v) for v in batches.values()), [4, 4], batches)
        # The provenance names the same batch.
        for b, members in batches.items():
            r = c.get(f"/jobs/{members[0]}/results/provenance")
            self.assertIn(b, r.text())

    def test_lone_job_waits_for_max_wait_when_no_batch_can_form(self):
        """min_jobs 4 cannot form from one job: it starts once max_wait_ms has passed (not
        before), alone in its batch."""
        srv = self.server("wait", "--workers", 1, "--batch.min_jobs", 4, "--batch.max_jobs", 4,
                          "--batch.max_wait_ms", 2000)
        c = srv.client()
        j = self.submit(c)
        d = self.wait_final(c, [j], srv=srv)[j]
        self.assertEqual(d["phase"], "COMPLETED", d)
        waited = parse_time(d["startTime"]) - parse_time(d["creationTime"])
        self.assertGreaterEqual(waited, 1.9, "the job started before max_wait_ms")
        self.assertEqual(self.metric(c, "otf_batches_total"), 1)
        self.assertEqual(self.metric(c, "otf_batch_jobs_total"), 1)

    def test_lone_job_starts_at_once_with_min_jobs_1(self):
        """min_jobs 1 and a long max_wait_ms: a lone job on an idle worker does not wait for a
        batch (the original service waited a fixed 2 s); its results are served with their MIME
        types and its progress reaches patchesTotal."""
        srv = self.server("lone", "--workers", 1, "--batch.min_jobs", 1, "--batch.max_jobs", 8,
                          "--batch.max_wait_ms", 30000)
        c = srv.client()
        j = self.submit(c)
        d = self.wait_final(c, [j], timeout=60, srv=srv)[j]
        self.assertEqual(d["phase"], "COMPLETED", d)
        waited = parse_time(d["startTime"]) - parse_time(d["creationTime"])
        self.assertLess(waited, 10.0, "a lone job waited for max_wait_ms")
        self.assertEqual(d["jobInfo"]["patchesDone"], d["jobInfo"]["patchesTotal"])
        self.assertEqual(d["jobInfo"]["stage"], "completed")
        listed = {r["id"]: r for r in d["results"]}
        self.assertEqual(set(listed), {"catalog", "regions", "provenance", "preview"})
        want = {"catalog": "application/x-votable+xml", "regions": "text/plain",
                "provenance": "application/json", "preview": "image/png"}
        for name, mime in want.items():
            r = c.get(f"/jobs/{j}/results/{name}")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.content_type, mime, name)
            self.assertEqual(listed[name]["mimeType"].split(";")[0], mime)
            self.assertEqual(len(r.body), listed[name]["size"], name)
        r = c.get(f"/jobs/{j}/results/preview")
        self.assertTrue(r.body.startswith(b"\x89PNG\r\n\x1a\n"))
        r = c.get(f"/jobs/{j}/results/provenance", accept="text/provenance-notation")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.content_type, "text/provenance-notation")
        self.assertTrue(r.text().lstrip().startswith("document"), r.text()[:200])
        r = c.get(f"/jobs/{j}/results/provenance")
        self.assertIn("wasGeneratedBy", r.json())
        r = c.get(f"/jobs/{j}/results/catalog")
        root = parse_xml(r.body)
        status = [e for e in root.iter() if isinstance(e.tag, str) and e.tag.endswith("}INFO")
                  and e.get("name") == "QUERY_STATUS"]
        self.assertEqual([e.get("value") for e in status], ["OK"])


    def test_image_hash_taken_at_upload(self):
        """otfd hashes the image as it arrives (image.fits.sha256 beside it) and the worker puts
        that hash in the provenance; a hash file gone or spoilt is recomputed from the image."""
        srv = self.server("hash", "--workers", 1, "--batch.min_jobs", 1)
        c = srv.client()
        want = hashlib.sha256(Path(self.small).read_bytes()).hexdigest()
        jobs = srv.otfd.data_dir / "jobs"
        ids = [self.submit(c, run=False) for _ in range(3)]
        for j in ids:
            self.assertEqual((jobs / j / "image.fits.sha256").read_text(), want + "\n")
        (jobs / ids[1] / "image.fits.sha256").unlink()
        (jobs / ids[2] / "image.fits.sha256").write_text("0" * 63 + "z\n")
        for j in ids:
            r = c.post_form(f"/jobs/{j}/phase", {"PHASE": "RUN"})
            self.assertEqual(r.status, 303, r)
        done = self.wait_final(c, ids, timeout=120, srv=srv)
        for j in ids:
            self.assertEqual(done[j]["phase"], "COMPLETED", done[j])
            prov = c.get(f"/jobs/{j}/results/provenance").json()
            hashes = {e.get("otf:sha256") for e in prov["entity"].values()}
            self.assertIn(want, hashes, j)


class ModelsAndPrecisionsTest(BatchingCase):

    def bf16_ok(self, c, srv):
        """BF16 jobs run on this machine's backend (else the BF16 parts are skipped)."""
        j = self.submit(c, "tiny", PRECISION="BF16")
        d = self.wait_final(c, [j], srv=srv)[j]
        if d["phase"] == "ERROR" and "bf16" in summary(d).lower():
            return False
        self.assertEqual(d["phase"], "COMPLETED", d)
        return True

    def test_two_models_two_precisions_interleave_without_reloads(self):
        """tiny/tiny2 x FP32/BF16 submitted interleaved: each batch holds one key, each key is
        loaded once (max_resident 4), and each catalogue says which model and precision ran."""
        srv = self.server("keys", "--workers", 1, "--batch.max_jobs", 4,
                          "--batch.max_wait_ms", 50, "--models.max_resident", 4)
        c = srv.client()
        precisions = ["FP32", "BF16"] if self.bf16_ok(c, srv) else ["FP32"]
        keys = [(m, p) for p in precisions for m in ("tiny", "tiny2")]
        ids = {}
        for rnd in range(3):
            for m, p in keys:
                for _ in range(2):
                    ids[self.submit(c, m, PRECISION=p)] = (m, p)
            self.wait_final(c, list(ids), srv=srv)
        docs = self.wait_final(c, list(ids), srv=srv)
        self.assert_completed(docs)
        batch_keys = {}
        for j, (m, p) in ids.items():
            params = self.catalog_params(c, j)
            self.assertEqual((params["model_id"], params["precision"]), (m, p), j)
            batch_keys.setdefault(params["batch_id"], set()).add((m, p))
        for b, ks in batch_keys.items():
            self.assertEqual(len(ks), 1, f"batch {b} mixes keys {ks}")
        self.assertEqual(self.metric(c, "otf_model_loads_total"), len(keys))
        self.assertEqual(self.metric(c, "otf_model_evictions_total"), 0)
        resident = {lab["model"] for n, lab, v in self.metrics(c) if n == "otf_resident_models"}
        self.assertEqual(resident, {f"{m}|{p}" for m, p in keys})

    def test_residency_of_one_reloads_on_every_switch(self):
        """max_resident 1 and two models alternating: every switch is a load and an eviction
        (the policy, and what the original service did on every batch); max_resident 2 with the
        same alternation loads each model once."""
        for resident, want_loads in ((1, 6), (2, 2)):
            with self.subTest(max_resident=resident):
                srv = self.server(f"res{resident}", "--workers", 1,
                                  "--models.max_resident", resident)
                c = srv.client()
                for k in range(6):
                    j = self.submit(c, ("tiny", "tiny2")[k % 2])
                    d = self.wait_final(c, [j], srv=srv)[j]
                    self.assertEqual(d["phase"], "COMPLETED", d)
                self.assertEqual(self.metric(c, "otf_model_loads_total"), want_loads)
                self.assertEqual(self.metric(c, "otf_model_evictions_total"), want_loads - resident)
                srv.cleanup()


class ControlTest(BatchingCase):

    def test_abort_of_a_running_job(self):
        """A job with thousands of patches: progress is visible while it runs (XML jobInfo and
        JSON), ABORT ends it ABORTED, the worker stops it between micro-batches (dropped counter,
        far fewer patches than the job has) and goes on with the next job."""
        srv = self.server("abort", "--workers", 1)
        c = srv.client()
        j = self.submit(c, image=self.image(4096))

        def running():
            d = self.info(c, j)
            self.assertIn(d["phase"], ("QUEUED", "EXECUTING"), d)
            return d["phase"] == "EXECUTING" and d["jobInfo"]["patchesDone"] > 0 and d
        d = self.wait_for("the big job to make progress", running, srv=srv)
        total = d["jobInfo"]["patchesTotal"]
        self.assertGreater(total, 5000)
        self.assertLess(d["jobInfo"]["patchesDone"], total)
        self.assertEqual(d["jobInfo"]["stage"], "inference")
        r = c.get(f"/jobs/{j}")
        root = parse_xml(r.body)
        done = root.find(f".//{{{OTF_NS}}}patchesDone")
        self.assertIsNotNone(done, r.body[:2000])
        self.assertGreater(int(done.text), 0)
        self.assertEqual(int(root.find(f".//{{{OTF_NS}}}patchesTotal").text), total)

        r = c.post_form(f"/jobs/{j}/phase", {"PHASE": "ABORT"})
        self.assertEqual(r.status, 303, r)
        self.assertEqual(self.info(c, j)["phase"], "ABORTED")
        self.wait_for("the worker to drop the aborted job",
                      lambda: self.metric(c, "otf_worker_jobs_dropped_total") == 1, srv=srv)
        after = self.metric(c, "otf_patches_total")
        self.assertLess(after, total, "the aborted job ran to its end")
        k = self.submit(c)
        d = self.wait_final(c, [k], srv=srv)[k]
        self.assertEqual(d["phase"], "COMPLETED", d)
        self.assertEqual(self.info(c, j)["phase"], "ABORTED")
        self.assertEqual(self.info(c, j)["results"], [])

    def test_execution_duration_expiry(self):
        """EXECUTIONDURATION=1 on a long job: ABORTED with a summary that says why, and the
        worker stops running it."""
        srv = self.server("expiry", "--workers", 1, "--uws.reaper_interval_ms", 200)
        c = srv.client()
        j = self.submit(c, image=self.image(4096), EXECUTIONDURATION=1)
        d = self.wait_final(c, [j], srv=srv)[j]
        self.assertEqual(d["phase"], "ABORTED", d)
        self.assertIn("execution duration", summary(d).lower(), d)
        self.wait_for("the worker to drop the expired job",
                      lambda: self.metric(c, "otf_worker_jobs_dropped_total") == 1, srv=srv)
        # A 4096^2 image needs more than (4096 / 56)^2 > 5000 patches of tiny, whatever the grid.
        self.assertLess(self.metric(c, "otf_patches_total"), 5000, "the job ran to its end")
        r = c.get(f"/jobs/{j}/error")
        self.assertEqual(r.status, 200, r)
        self.assertIn("execution duration", r.text().lower())

    def test_job_longer_than_the_lease_runs_once(self):
        """A worker holds its claims with a lease of 15 s: a job that runs longer (here, a
        2048^2 image through tiny; ~30 s on a 2-core machine, most of it in the final NMS of its
        ~500k raw detections) must not be taken back and rerun while its worker is alive."""
        srv = self.server("lease", "--workers", 1)
        c = srv.client()
        j = self.submit(c, image=self.image(2048))
        d = self.wait_final(c, [j], srv=srv)[j]
        self.assertEqual(d["phase"], "COMPLETED", d)
        self.assertEqual(d["jobInfo"]["attempts"], 1, "the job was taken back and run again")
        self.assertEqual(self.metric(c, "otf_batches_total"), 1)
        ran = parse_time(d["endTime"]) - parse_time(d["startTime"])
        if ran < 16.0:
            self.skipTest(f"the job ran {ran:.1f} s, within one lease: the renewal was not needed")


class FairnessTest(BatchingCase):

    TOKENS = {"alice": "tok-alice-4242424242", "bob": "tok-bob-1717171717"}

    def owners_server(self, name, *extra, workers=1):
        tf = self.tmp / f"tokens-{name}"
        tf.write_text("".join(f"{hashlib.sha256(t.encode()).hexdigest()} {o}\n"
                              for o, t in self.TOKENS.items()))
        return self.server(name, "--workers", workers, "--batch.min_jobs", 1,
                           "--batch.max_wait_ms", 0, "--http.tokens_file", tf, *extra,
                           tokens=self.TOKENS)

    def start_big_job(self, srv, alice):
        """alice's 4096^2 job (thousands of patches), once it runs."""
        big = self.submit(alice, image=self.image(4096))

        def running():
            d = self.info(alice, big)
            return d["phase"] == "EXECUTING" and d["jobInfo"]["patchesDone"] > 0
        self.wait_for("the big job to make progress", running, srv=srv)
        return big

    def test_job_joins_a_running_batch(self):
        """batch.join: a small job, queued while alice's big job of the same model runs alone in
        its batch, joins that batch at a following micro-batch and ends while the big job still
        runs: bob's shares the forward passes with alice's (DRR across owners), alice's own
        goes first (the fewest patches left first within an owner)."""
        for owner in ("bob", "alice"):
            with self.subTest(owner=owner):
                srv = self.owners_server(f"join-{owner}", "--batch.max_jobs", 4)
                alice, other = srv.client("alice"), srv.client(owner)
                big = self.start_big_job(srv, alice)
                small = self.submit(other, image=self.image(512))
                d = self.wait_final(other, [small], srv=srv)[small]
                self.assertEqual(d["phase"], "COMPLETED", d)
                self.assertEqual(d["jobInfo"]["batch"], self.info(alice, big)["jobInfo"]["batch"])
                self.assertEqual(self.info(alice, big)["phase"], "EXECUTING",
                                 "the small job waited for the big one")
                self.assertEqual(self.metric(other, "otf_batches_total"), 1)
                self.assertEqual(self.metric(other, "otf_batch_joins_total"), 1)
                self.assertEqual(self.metric(other, "otf_batch_jobs_total"), 2)
                r = alice.post_form(f"/jobs/{big}/phase", {"PHASE": "ABORT"})
                self.assertEqual(r.status, 303, r)
                srv.cleanup()

    def test_an_idle_worker_goes_before_a_busy_batch(self):
        """--workers 2: while one worker runs alice's big job, bob's small job goes to the idle
        worker in a batch of its own instead of joining the busy batch (jobs join only once
        their key's oldest has waited batch.join_after_ms; an idle worker claims at once)."""
        srv = self.owners_server("idle", "--batch.max_jobs", 4, "--batch.join_after_ms", 3000,
                                 workers=2)
        alice, bob = srv.client("alice"), srv.client("bob")
        big = self.start_big_job(srv, alice)
        small = self.submit(bob, image=self.image(512))
        d = self.wait_final(bob, [small], srv=srv)[small]
        self.assertEqual(d["phase"], "COMPLETED", d)
        running = self.info(alice, big)
        self.assertEqual(running["phase"], "EXECUTING")
        self.assertEqual(self.metric(bob, "otf_batch_joins_total"), 0)
        self.assertEqual(self.metric(bob, "otf_batches_total"), 2)
        w_big, w_small = (x["jobInfo"]["batch"].split("/")[0] for x in (running, d))
        self.assertNotEqual(w_big, w_small, "both jobs ran on one worker")
        r = alice.post_form(f"/jobs/{big}/phase", {"PHASE": "ABORT"})
        self.assertEqual(r.status, 303, r)

    def test_batch_join_off_keeps_the_claimed_jobs(self):
        """batch.join 0: the small job waits in the queue until the big job's batch ends."""
        srv = self.owners_server("nojoin", "--batch.max_jobs", 4, "--batch.join", 0)
        alice, bob = srv.client("alice"), srv.client("bob")
        big = self.start_big_job(srv, alice)
        small = self.submit(bob, image=self.image(512))
        time.sleep(2.0)
        self.assertEqual(self.info(bob, small)["phase"], "QUEUED")
        self.assertIsNone(self.info(bob, small)["jobInfo"]["batch"])
        self.assertEqual(self.info(alice, big)["phase"], "EXECUTING")
        r = alice.post_form(f"/jobs/{big}/phase", {"PHASE": "ABORT"})
        self.assertEqual(r.status, 303, r)
        d = self.wait_final(bob, [small], srv=srv)[small]
        self.assertEqual(d["phase"], "COMPLETED", d)
        self.assertEqual(self.metric(bob, "otf_batches_total"), 2)
        self.assertEqual(self.metric(bob, "otf_batch_joins_total"), 0)

    def test_two_owners_share_the_worker(self):
        """alice floods the queue, then bob queues 3 jobs: with batches of 2, bob's jobs run
        beside alice's (deficit round robin across owners) instead of after all of hers."""
        srv = self.owners_server("fair", "--batch.max_jobs", 2)
        alice, bob = srv.client("alice"), srv.client("bob")
        img = self.image(512)
        a_ids = [self.submit(alice, image=img, run=False) for _ in range(12)]
        b_ids = [self.submit(bob, image=img, run=False) for _ in range(3)]
        for j in a_ids:
            self.run_job(alice, j)
        for j in b_ids:
            self.run_job(bob, j)
        waiting = [j for j in a_ids if self.info(alice, j)["phase"] == "QUEUED"]
        self.assertGreaterEqual(len(waiting), 8, "alice's flood did not build a queue")
        docs = self.wait_final(alice, a_ids, srv=srv)
        docs.update(self.wait_final(bob, b_ids, srv=srv))
        self.assert_completed(docs)
        last_b = max(parse_time(docs[j]["endTime"]) for j in b_ids)
        a_after = [j for j in waiting if parse_time(docs[j]["endTime"]) > last_b]
        # Without fairness alice's whole queue runs first (a_after == 0); with DRR and 2 jobs a
        # batch, bob's 3 jobs are done while alice still has most of hers waiting.
        self.assertGreaterEqual(len(a_after), len(waiting) // 2,
                                f"bob's jobs ended after {len(waiting) - len(a_after)} of "
                                f"alice's {len(waiting)} waiting jobs")


class DurabilityTest(BatchingCase):

    def assert_all_ended(self, c, ids, srv):
        docs = self.wait_final(c, ids, srv=srv)
        for j, d in docs.items():
            self.assertIn(d["phase"], ("COMPLETED", "ERROR"), d)
            if d["phase"] == "ERROR":
                self.assertTrue(summary(d), d)
            else:
                r = c.get(f"/jobs/{j}/results/catalog")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.content_type, "application/x-votable+xml")
                self.assertEqual(self.catalog_params(c, j)["job_id"], j)
        return docs

    def test_kill9_worker_mid_batch(self):
        """kill -9 of the worker while a batch runs: otfd keeps serving, restarts the worker and
        retries the batch's jobs once; every job ends COMPLETED."""
        srv = self.server("killw", "--workers", 1, "--batch.max_jobs", 4)
        c = srv.client()
        img = self.image(768)
        ids = self.submit_many(c, 8, image=img)

        def executing():
            return any(self.info(c, j)["phase"] == "EXECUTING"
                       and self.info(c, j)["jobInfo"]["patchesDone"] > 0 for j in ids)
        self.wait_for("a batch to run", executing, srv=srv)
        pids = srv.workers()
        self.assertEqual(len(pids), 1, pids)
        os.kill(pids[0], signal.SIGKILL)
        self.assertEqual(c.get("/health").status, 200)
        docs = self.assert_all_ended(c, ids, srv)
        self.assert_completed(docs)
        self.assertTrue(any(d["jobInfo"]["attempts"] == 2 for d in docs.values()),
                        "no job was retried after the worker died")
        self.assertGreaterEqual(self.metric(c, "otf_worker_restarts_total"), 1)
        self.assertNotIn(pids[0], srv.workers())

    def test_batch_ids_stay_unique_across_worker_restarts(self):
        """A restarted worker numbers its batches from 1 again: the batch ids in the results
        (catalogue PARAM batch_id) must still tell its batches from the previous run's."""
        srv = self.server("bids", "--workers", 1, "--batch.max_jobs", 1)
        c = srv.client()
        first = self.submit(c)
        self.assert_completed(self.wait_final(c, [first], srv=srv))
        pids = srv.workers()
        self.assertEqual(len(pids), 1, pids)
        os.kill(pids[0], signal.SIGKILL)
        self.wait_for("the worker to be restarted",
                      lambda: self.metric(c, "otf_worker_restarts_total") == 1
                      and [p for p in srv.workers() if p != pids[0]], srv=srv)
        second = self.submit(c)
        self.assert_completed(self.wait_final(c, [second], srv=srv))
        a, b = (self.catalog_params(c, j)["batch_id"] for j in (first, second))
        self.assertNotEqual(a, b, "two batches of two worker runs share one batch id")

    def test_kill9_otfd_mid_batch_then_restart(self):
        """kill -9 of otfd while a batch runs: its workers stop too (they never outlive it),
        and a restart on the same data directory runs every accepted job to its end."""
        srv = self.server("killd", "--workers", 1, "--batch.max_jobs", 4)
        c = srv.client()
        img = self.image(768)
        ids = self.submit_many(c, 8, image=img)

        def mid_job():
            # a job with some of its patches done and not all: the kill cannot miss it (the
            # gap between two batches, or a batch ending during a fixed sleep, could)
            for j in ids:
                d = self.info(c, j)
                info = d["jobInfo"]
                done, total = info.get("patchesDone", 0), info.get("patchesTotal", 0)
                if d["phase"] == "EXECUTING" and 0 < done < total:
                    return True
            return False
        self.wait_for("a job half-way through its patches", mid_job, srv=srv, period=0.02)
        old = srv.workers()
        self.assertEqual(len(old), 1, old)
        srv.otfd.kill9()
        self.wait_for("the killed server's worker to exit", lambda: not pid_alive(old[0]),
                      timeout=60)
        srv.start()
        c = srv.client()
        docs = self.assert_all_ended(c, ids, srv)
        self.assert_completed(docs)
        self.assertTrue(any(d["jobInfo"]["attempts"] == 2 for d in docs.values()),
                        "no job was interrupted by the kill")


def main():
    global OTFD
    argv = list(sys.argv)
    if "--otfd" in argv:
        i = argv.index("--otfd")
        OTFD = argv[i + 1]
        del argv[i:i + 2]
    OTFD = OTFD or os.environ.get("OTFD")
    if not OTFD or not os.access(OTFD, os.X_OK):
        print("test_batching.py: give the otfd binary with --otfd PATH or OTFD=PATH",
              file=sys.stderr)
        return 2
    OTFD = str(Path(OTFD).resolve())
    prog = unittest.main(argv=argv, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
