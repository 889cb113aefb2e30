#!/usr/bin/python3
"""Integration tests of the otfd UWS 1.1 job service (DESIGN §3, §7, §8; issue 2).

The real otfd runs on 127.0.0.1 with an OS-chosen port, a temporary data directory and the
fixture models of tests/data/models; the tests drive it over HTTP through the whole job
lifecycle, every bad input that validation at the door must refuse, bearer-token owners, the
reaper, the queue bound and a kill -9 + restart. Every job and job-list document is validated
against the UWS 1.1 XSD (tests/data/xsd, local files only) and parsed with pyvo.io.uws.

pyvo's AsyncTAPJob is used as a generic UWS client on an existing job URL (phase, run, abort,
executionduration, destruction, delete). Its job *creation* is TAP-specific (POST {base}/async
with QUERY/LANG) and cannot create a job on a bare UWS service, so jobs are created with raw
HTTP here and pyvo only reads and drives them.

The server runs with --workers 0 here, so a queued job stays QUEUED: these tests check the job
service itself; execution and batching are tested in test_batching.py.

Usage: test_uws_service.py --otfd PATH/TO/otfd [unittest options]
       (or OTFD=PATH/TO/otfd in the environment)
"""

import hashlib
import http.server
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import unittest
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyvo.io.uws as pyvo_uws
from lxml import etree
from pyvo.dal.tap import AsyncTAPJob

from uws_harness import (MODELS_DIR, NS, REAL_IMAGE, UTC_RE, UWS_NS, XSI_NIL,
                         Multipart, Otfd, make_fits, open_bytes, parse_xml, stream_request, uws,
                         validate)

OTFD = None  # set by main()

# Generous bounds: the suite must pass on a loaded 2-core machine.
SLOW = 20.0


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    s = s.strip()
    assert UTC_RE.match(s), f"not a UTC ISO 8601 time with Z: {s!r}"
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# pyvo 1.2.1 does not know the optional uws:jobInfo element (whose content is the service's
# own) and warns on the uws:jobs root it parses itself; any other complaint of its parser fails
# the test.
UNKNOWN_RE = re.compile(r"Unknown element (\w+)")


def pyvo_parse(fn, body):
    root = parse_xml(body)
    tolerated = {"jobs", "jobInfo"}
    for info in root.iter(uws("jobInfo")):
        tolerated |= {etree.QName(e).localname for e in info.iter() if isinstance(e.tag, str)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        obj = fn(open_bytes(body))
    bad = []
    for w in caught:
        m = UNKNOWN_RE.search(str(w.message))
        if not (m and m.group(1) in tolerated):
            bad.append(str(w.message))
    if bad:
        raise AssertionError("pyvo.io.uws complains: " + "; ".join(bad))
    return obj


class ServerCase(unittest.TestCase):
    """Shared helpers; subclasses start the servers they need."""

    tmp = None

    @classmethod
    def make_tmp(cls):
        return Path(tempfile.mkdtemp(prefix="otf-itest-"))

    @classmethod
    def start_server(cls, tmp, name, *extra, models=MODELS_DIR):
        data = tmp / f"{name}-data"
        # No workers: the job service alone (jobs stay QUEUED; see the module docstring).
        srv = Otfd(OTFD, data, "--workers", "0", *extra, models=models, name=name)
        srv.start()
        return srv

    # ---- requests ----

    def create(self, c, fields=(), image=None, image_path=None, part="image", desc=None,
               desc_part="description", expect=303, form=False):
        """POST /jobs; returns the job id (expect=303) or the response."""
        if form:
            r = c.post_form("/jobs", list(fields))
        else:
            mp = Multipart()
            for k, v in fields:
                mp.field(k, v)
            if desc is not None:
                mp.field(desc_part, desc, content_type="text/xml")
            if image is not None:
                mp.file(part, "image.fits", data=image)
            if image_path is not None:
                mp.file(part, Path(image_path).name, path=image_path)
            r = c.post_multipart("/jobs", mp)
        if expect != 303:
            self.assertEqual(r.status, expect, r)
            return r
        self.assertEqual(r.status, 303, r)
        loc = r.header("Location")
        self.assertIsNotNone(loc, "303 without Location")
        self.assertTrue(loc.startswith(c.base + "/jobs/"), f"Location not absolute: {loc}")
        job_id = loc[len(c.base + "/jobs/"):]
        self.assertRegex(job_id, r"^[A-Za-z0-9_-]+$")
        return job_id

    def job(self, c, job_id, params=None):
        """GET the job document: schema-valid, version 1.1, pyvo-parsable. Returns (root, pyvo)."""
        r = c.get(f"/jobs/{job_id}", params=params)
        self.assertEqual(r.status, 200, r)
        self.assertIn(r.content_type, ("text/xml", "application/xml"))
        return self.check_job_doc(r.body, job_id)

    def check_job_doc(self, body, job_id=None):
        root = validate(body, "UWS-v1.1.xsd")
        self.assertEqual(root.tag, uws("job"))
        self.assertEqual(root.get("version"), "1.1")
        if job_id:
            self.assertEqual(root.findtext("uws:jobId", namespaces=NS), job_id)
        ct = root.find("uws:creationTime", NS)
        self.assertIsNotNone(ct, "creationTime is required by UWS 1.1")
        parse_iso(ct.text)
        for tag in ("startTime", "endTime", "destruction", "quote", "ownerId"):
            el = root.find(f"uws:{tag}", NS)
            if el is None:
                continue
            if el.get(XSI_NIL) == "true":
                self.assertFalse((el.text or "").strip(), f"nil {tag} must be empty")
            elif tag != "ownerId":
                parse_iso(el.text)
        pj = pyvo_parse(pyvo_uws.parse_job, body)
        if job_id:
            self.assertEqual(pj.jobid, job_id)
        self.assertEqual(pj.version, "1.1")
        return root, pj

    def job_list(self, c, params=None, token=None):
        r = c.get("/jobs", params=params, token=token)
        self.assertEqual(r.status, 200, r)
        root = validate(r.body, "UWS-v1.1.xsd")
        self.assertEqual(root.tag, uws("jobs"))
        self.assertEqual(root.get("version"), "1.1")
        pl = pyvo_parse(pyvo_uws.parse_job_list, r.body)
        refs = root.findall("uws:jobref", NS)
        self.assertEqual([j.jobid for j in pl], [e.get("id") for e in refs])
        for e in refs:
            href = e.get("{http://www.w3.org/1999/xlink}href")
            self.assertEqual(href, f"{c.base}/jobs/{e.get('id')}")
        return [(e.get("id"), e.findtext("uws:phase", namespaces=NS)) for e in refs]

    def phase(self, c, job_id):
        r = c.get(f"/jobs/{job_id}/phase")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.content_type, "text/plain")
        return r.text().strip()

    def params_of(self, root):
        return {p.get("id"): (p.text or "") for p in root.findall("uws:parameters/uws:parameter",
                                                                NS)}

    def assert_error(self, r, status, *needles):
        """A DALI error: the status, a VOTable error document (schema-valid) or JSON, and a
        message that says what was wrong."""
        self.assertEqual(r.status, status, r)
        if r.content_type == "application/json":
            msg = r.json()["error"]
        else:
            self.assertEqual(r.content_type, "application/x-votable+xml", r)
            root = validate(r.body, "VOTable-v1.4.xsd")
            infos = root.findall(".//vot:INFO[@name='QUERY_STATUS']", NS)
            self.assertEqual(len(infos), 1, r)
            self.assertEqual(infos[0].get("value"), "ERROR")
            msg = infos[0].text or ""
        self.assertTrue(msg.strip(), "error without a message")
        for n in needles:
            self.assertIn(n.lower(), msg.lower(), f"message {msg!r} should mention {n!r}")
        return msg

    def assert_alive(self, srv):
        self.assertTrue(srv.alive(), f"otfd died:\n{srv.log_tail()}")
        r = srv.client().get("/health", timeout=SLOW)
        self.assertEqual(r.status, 200, r)

    def job_ids(self, c, token=None):
        return {i for i, _ in self.job_list(c, token=token)}


# =============================================================================================


class UwsServiceTest(ServerCase):
    """One anonymous server for the lifecycle, sub-resources, WAIT and bad inputs."""

    EXEC_MAX = 7200
    DESTR_MAX = 86400

    @classmethod
    def setUpClass(cls):
        cls.tmp = cls.make_tmp()
        cls.srv = cls.start_server(cls.tmp, "main", "--uws.reaper_interval_ms", "100",
                                   "--http.wait_max_s", "30", "--uws.exec_duration_max_s",
                                   cls.EXEC_MAX, "--uws.destruction_max_s", cls.DESTR_MAX)
        cls.c = cls.srv.client()
        r = cls.c.get("/models", accept="application/json")
        assert r.status == 200, r
        models = r.json()["models"]
        assert models, "the fixture models folder holds no model"
        cls.model = models[0]["id"]
        cls.precisions = [p.upper() for p in models[0]["precisions"]]
        cls.image = REAL_IMAGE.read_bytes()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop_clean()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        self.assert_alive(self.srv)

    def new_pending(self, **extra):
        fields = [("MODEL", self.model)] + list(extra.items())
        return self.create(self.c, fields, image=self.image)

    def jobs_dir(self):
        return self.srv.data_dir / "jobs"

    # ---- service resources ----

    def test_health_availability_capabilities(self):
        r = self.c.get("/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["status"], "ok")
        r = self.c.get("/availability")
        self.assertEqual(r.status, 200, r)
        root = parse_xml(r.body)
        ns = {"vosi": "http://www.ivoa.net/xml/VOSIAvailability/v1.0"}
        self.assertEqual(root.tag, "{http://www.ivoa.net/xml/VOSIAvailability/v1.0}availability")
        self.assertEqual(root.findtext("vosi:available", namespaces=ns), "true")
        r = self.c.get("/availability", accept="application/json")
        self.assertIs(r.json()["available"], True)
        r = self.c.get("/capabilities")
        self.assertEqual(r.status, 200, r)
        root = parse_xml(r.body)
        self.assertEqual(root.tag,
                         "{http://www.ivoa.net/xml/VOSICapabilities/v1.0}capabilities")
        caps = {c.get("standardID"): c.findtext("interface/accessURL")
                for c in root.findall("capability")}
        self.assertEqual(caps.get("ivo://ivoa.net/std/VOSI#availability"),
                         self.c.base + "/availability")
        self.assertEqual(caps.get("ivo://ivoa.net/std/VOSI#capabilities"),
                         self.c.base + "/capabilities")

    def test_models(self):
        r = self.c.get("/models", accept="application/json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.content_type, "application/json")
        ids = [m["id"] for m in r.json()["models"]]
        on_disk = sorted(p.name for p in MODELS_DIR.iterdir() if (p / "model.ini").exists())
        self.assertEqual(sorted(ids), on_disk)
        card = r.json()["models"][0]
        self.assertIn("description", card)
        self.assertTrue(card["precisions"])
        self.assertNotIn(b"weights_data", r.body)
        r = self.c.get(f"/models/{self.model}", accept="application/json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["id"], self.model)
        r = self.c.get("/models", accept="application/xml")
        self.assertEqual(r.status, 200, r)
        root = parse_xml(r.body)
        self.assertIn(self.model, [m.get("id") for m in root])
        self.assert_error(self.c.get("/models/no-such-model"), 404, "no-such-model")

    def test_metrics(self):
        self.new_pending()
        r = self.c.get("/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.content_type, "text/plain")
        text = r.text()
        self.assertRegex(text, r'(?m)^otf_jobs\{phase="PENDING"\} [1-9][0-9]*$')
        self.assertRegex(text, r"(?m)^otf_jobs_created_total [1-9][0-9]*$")
        self.assertRegex(text, r"(?m)^otf_http_requests_total [1-9][0-9]*$")
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r"^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$")

    # ---- creation ----

    def test_create_multipart_streamed_upload(self):
        job_id = self.create(self.c, [("MODEL", self.model), ("RUNID", "run-42")],
                             image_path=REAL_IMAGE)
        root, pj = self.job(self.c, job_id)
        self.assertEqual(pj.phase, "PENDING")
        self.assertEqual(root.findtext("uws:runId", namespaces=NS), "run-42")
        self.assertEqual(root.find("uws:startTime", NS).get(XSI_NIL), "true")
        self.assertEqual(root.find("uws:endTime", NS).get(XSI_NIL), "true")
        self.assertEqual(root.find("uws:ownerId", NS).get(XSI_NIL), "true")
        p = {x.get("id"): x for x in root.findall("uws:parameters/uws:parameter", NS)}
        self.assertEqual(p["model"].text, self.model)
        self.assertEqual(p["image"].get("byReference"), "true")
        self.assertEqual(p["image"].text, f"{self.c.base}/jobs/{job_id}/parameters/image")
        # The stored image is the uploaded file, byte for byte.
        r = self.c.get(p["image"].text)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sha256(r.body), sha256(self.image))
        self.assertTrue((self.jobs_dir() / job_id).is_dir())
        # hashed as it arrived, for the worker's provenance
        self.assertEqual((self.jobs_dir() / job_id / "image.fits.sha256").read_text(),
                         sha256(self.image) + "\n")
        self.assertEqual(list((self.srv.data_dir / "tmp").iterdir()), [])

    def test_create_form_encoded_then_complete_while_pending(self):
        job_id = self.create(self.c, [("model", self.model), ("RunId", "form-1"),
                                      ("Threshold", "0.4")], form=True)
        root, pj = self.job(self.c, job_id)
        self.assertEqual(pj.phase, "PENDING")
        params = self.params_of(root)
        self.assertEqual(params["model"], self.model)  # names are case-insensitive (DALI)
        self.assertEqual(params["threshold"], "0.4")
        self.assertEqual(pj.runid, "form-1")
        # Not runnable yet: no image. 400 with the reason, job stays PENDING.
        r = self.c.post_form(f"/jobs/{job_id}/phase", {"PHASE": "RUN"})
        self.assert_error(r, 400, "image")
        self.assertEqual(self.phase(self.c, job_id), "PENDING")
        # Complete it while PENDING: the image by a multipart POST to {job}/parameters.
        mp = Multipart().file("image", "img.fits", data=self.image)
        r = self.c.post_multipart(f"/jobs/{job_id}/parameters", mp)
        self.assertEqual(r.status, 303, r)
        self.assertEqual(r.header("Location"), f"{self.c.base}/jobs/{job_id}")
        r = self.c.post_form(f"/jobs/{job_id}/parameters", {"PRECISION": "BF16C_FP32A"})
        self.assertEqual(r.status, 303, r)
        root, _ = self.job(self.c, job_id)
        params = self.params_of(root)
        self.assertEqual(params["precision"], "BF16")  # CIANNA alias -> canonical name
        self.assertIn("image", params)
        r = self.c.post_form(f"/jobs/{job_id}/phase", {"PHASE": "RUN"})
        self.assertEqual(r.status, 303, r)
        self.assertEqual(r.header("Location"), f"{self.c.base}/jobs/{job_id}")
        self.assertEqual(self.phase(self.c, job_id), "QUEUED")
        # Parameters are frozen once the job left PENDING (UWS 1.1).
        r = self.c.post_form(f"/jobs/{job_id}/parameters", {"THRESHOLD": "0.9"})
        self.assert_error(r, 409, "PENDING")
        self.assertEqual(self.params_of(self.job(self.c, job_id)[0])["threshold"], "0.4")

    def test_dali_upload_names_the_part(self):
        job_id = self.create(self.c, [("MODEL", self.model), ("UPLOAD", "image,param:fitsfile"),
                                      ("PHASE", "RUN")], image=self.image, part="fitsfile")
        root, pj = self.job(self.c, job_id)
        self.assertEqual(pj.phase, "QUEUED")
        self.assertIn("image", self.params_of(root))
        r = self.c.get(f"/jobs/{job_id}/parameters/image")
        self.assertEqual(sha256(r.body), sha256(self.image))
        # UPLOAD naming a part that is not the one sent: refused, no job.
        before = self.job_ids(self.c)
        r = self.create(self.c, [("MODEL", self.model), ("UPLOAD", "image,param:other")],
                        image=self.image, part="fitsfile", expect=400)
        self.assert_error(r, 400, "other")
        self.assertEqual(self.job_ids(self.c), before)

    def test_phase_run_at_creation_queues(self):
        job_id = self.create(self.c, [("MODEL", self.model), ("PRECISION", "FP32"),
                                      ("PHASE", "RUN")], image=self.image)
        root, pj = self.job(self.c, job_id)
        self.assertEqual(pj.phase, "QUEUED")
        self.assertEqual(root.find("uws:startTime", NS).get(XSI_NIL), "true")
        # No worker in this build: it stays QUEUED, nothing pretends to run it.
        time.sleep(0.5)
        self.assertEqual(self.phase(self.c, job_id), "QUEUED")

    def test_original_client_description_xml(self):
        desc = f"""<?xml version="1.0" encoding="UTF-8"?>
<uws:job xmlns:uws="{UWS_NS}">
  <uws:parameters>
    <uws:parameter id="ModelName">{self.model}</uws:parameter>
    <uws:parameter id="Quantization">FP32C_FP32A</uws:parameter>
    <uws:parameter id="RA">61.424</uws:parameter>
    <uws:parameter id="DEC">63.333</uws:parameter>
    <uws:parameter id="ROI_Width">0.05</uws:parameter>
    <uws:parameter id="ROI_Height">0.08</uws:parameter>
  </uws:parameters>
</uws:job>
"""
        job_id = self.create(self.c, [("PHASE", "RUN")], image=self.image, desc=desc)
        root, pj = self.job(self.c, job_id)
        self.assertEqual(pj.phase, "QUEUED")
        params = self.params_of(root)
        self.assertEqual(params["model"], self.model)
        self.assertEqual(params["precision"], "FP32")
        self.assertEqual(float(params["ra"]), 61.424)
        self.assertEqual(float(params["dec"]), 63.333)
        self.assertEqual(float(params["size"]), 0.08)
        # Form fields win over the description's values.
        job_id = self.create(self.c, [("PRECISION", "BF16")], image=self.image, desc=desc)
        self.assertEqual(self.params_of(self.job(self.c, job_id)[0])["precision"], "BF16")
        # The description as a file part (curl -F description=@job.xml).
        mp = Multipart().file("description", "job.xml", data=desc.encode(),
                              content_type="application/xml")
        mp.file("image", "img.fits", data=self.image)
        r = self.c.post_multipart("/jobs", mp)
        self.assertEqual(r.status, 303, r)
        root, _ = self.job(self.c, r.header("Location").rsplit("/", 1)[1])
        self.assertEqual(self.params_of(root)["model"], self.model)
        self.assertIn("image", self.params_of(root))
        # The same document as a raw text/xml body.
        r = self.c.request("POST", "/jobs", body=desc.encode(),
                           headers={"Content-Type": "text/xml"})
        self.assertEqual(r.status, 303, r)
        job_id = r.header("Location").rsplit("/", 1)[1]
        root, pj = self.job(self.c, job_id)
        self.assertEqual(pj.phase, "PENDING")
        self.assertEqual(self.params_of(root)["model"], self.model)

    # ---- job list ----

    def test_job_list_filters(self):
        t_before = datetime.now(timezone.utc) - timedelta(seconds=2)
        a = self.new_pending()
        time.sleep(1.1)  # creation times one second apart at least
        t_mid = datetime.now(timezone.utc)
        time.sleep(1.1)
        b = self.create(self.c, [("MODEL", self.model), ("PHASE", "RUN")], image=self.image)
        c_ = self.new_pending()
        self.c.post_form(f"/jobs/{c_}/phase", {"PHASE": "ABORT"})
        lst = dict(self.job_list(self.c))
        self.assertEqual((lst[a], lst[b], lst[c_]), ("PENDING", "QUEUED", "ABORTED"))
        only_pending = self.job_list(self.c, {"PHASE": "PENDING"})
        self.assertTrue(all(p == "PENDING" for _, p in only_pending))
        self.assertIn(a, dict(only_pending))
        two = dict(self.job_list(self.c, [("PHASE", "QUEUED"), ("PHASE", "ABORTED")]))
        self.assertTrue(set(two.values()) <= {"QUEUED", "ABORTED"})
        self.assertIn(b, two)
        self.assertIn(c_, two)
        self.assertNotIn(a, two)
        after = dict(self.job_list(self.c, {"AFTER": iso(t_mid)}))
        self.assertNotIn(a, after)
        self.assertIn(b, after)
        self.assertIn(c_, after)
        self.assertIn(a, dict(self.job_list(self.c, {"AFTER": iso(t_before)})))
        last = self.job_list(self.c, {"LAST": "2"})
        self.assertEqual(len(last), 2)
        self.assertEqual(last[1][0], b)  # newest first
        self.assertEqual(last[0][0], c_)
        combined = self.job_list(self.c, [("LAST", "1"), ("PHASE", "PENDING")])
        self.assertEqual(len(combined), 1)
        self.assertEqual(combined[0][1], "PENDING")
        # JSON
        r = self.c.get("/jobs", accept="application/json", params={"LAST": "3"})
        self.assertEqual(r.content_type, "application/json")
        doc = r.json()
        self.assertEqual(doc["version"], "1.1")
        self.assertEqual([j["jobId"] for j in doc["jobs"]][:2], [c_, b])
        self.assertEqual(doc["jobs"][0]["phase"], "ABORTED")

    def test_awkward_values_keep_documents_valid(self):
        # Markup, control characters, bytes that are not UTF-8, long values: escaped or
        # replaced, never a broken document.
        for body in (b"RUNID=a%3Cb%3E%26%22%27&NOTE=%5D%5D%3E", b"RUNID=x%01y&NOTE=%1B%5B0m",
                     b"RUNID=%FF%FE&NOTE=%C3%28", "RUNID=é漢字".encode(),
                     b"RUNID=" + b"r" * 5000):
            with self.subTest(body=body[:40]):
                r = self.c.request("POST", "/jobs", body=b"MODEL=" + self.model.encode() + b"&"
                                   + body, headers={"Content-Type":
                                                    "application/x-www-form-urlencoded"})
                if r.status != 303:
                    self.assert_error(r, 400)
                    continue
                job_id = r.header("Location").rsplit("/", 1)[1]
                self.job(self.c, job_id)
                self.assertEqual(self.c.get(f"/jobs/{job_id}", accept="application/json")
                                 .json()["jobId"], job_id)
                validate(self.c.get(f"/jobs/{job_id}/parameters").body, "UWS-v1.1.xsd")
        self.job_list(self.c)

    # ---- the job document and its sub-resources ----

    def test_job_document_json(self):
        job_id = self.new_pending(RUNID="j1")
        r = self.c.get(f"/jobs/{job_id}", accept="application/json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.content_type, "application/json")
        d = r.json()
        self.assertEqual(d["version"], "1.1")
        self.assertEqual(d["jobId"], job_id)
        self.assertEqual(d["phase"], "PENDING")
        self.assertEqual(d["runId"], "j1")
        self.assertIsNone(d["startTime"])
        self.assertIsNone(d["ownerId"])
        parse_iso(d["creationTime"])
        parse_iso(d["destruction"])
        self.assertEqual(d["parameters"]["model"], self.model)
        self.assertEqual(d["results"], [])
        # The XML document says the same.
        root, pj = self.job(self.c, job_id)
        self.assertEqual(parse_iso(root.findtext("uws:creationTime", namespaces=NS)),
                         parse_iso(d["creationTime"]))
        self.assertEqual(int(root.findtext("uws:executionDuration", namespaces=NS)),
                         d["executionDuration"])
        # The parameters and results resources answer JSON too, with the same members.
        for sub in ("parameters", "results"):
            r = self.c.get(f"/jobs/{job_id}/{sub}", accept="application/json")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.content_type, "application/json")
            self.assertEqual(r.json(), d[sub])

    def test_sub_resources(self):
        job_id = self.new_pending()
        base = f"/jobs/{job_id}"
        self.assertEqual(self.phase(self.c, job_id), "PENDING")
        # executionduration: text/plain; POST changes it, the server clamps.
        r = self.c.get(base + "/executionduration")
        self.assertEqual((r.status, r.content_type), (200, "text/plain"))
        self.assertRegex(r.text().strip(), r"^[0-9]+$")
        for sent, want in (("120", 120), (str(10 ** 8), self.EXEC_MAX), ("0", self.EXEC_MAX)):
            r = self.c.post_form(base + "/executionduration", {"EXECUTIONDURATION": sent})
            self.assertEqual(r.status, 303, r)
            self.assertEqual(r.header("Location"), f"{self.c.base}{base}")
            self.assertEqual(int(self.c.get(base + "/executionduration").text()), want)
            root, pj = self.job(self.c, job_id)
            self.assertEqual(round(pj.executionduration.sec), want)
        for bad in ("-5", "abc", "1.5", ""):
            r = self.c.post_form(base + "/executionduration", {"EXECUTIONDURATION": bad})
            self.assert_error(r, 400, "EXECUTIONDURATION")
        r = self.c.post_form(base + "/executionduration", {"OTHER": "1"})
        self.assert_error(r, 400, "EXECUTIONDURATION")
        self.assertEqual(int(self.c.get(base + "/executionduration").text()), self.EXEC_MAX)

        # destruction: ISO 8601 UTC; POST sets it, the server caps it.
        r = self.c.get(base + "/destruction")
        self.assertEqual((r.status, r.content_type), (200, "text/plain"))
        created = parse_iso(self.job(self.c, job_id)[0].findtext("uws:creationTime",
                                                                   namespaces=NS))
        want = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
        r = self.c.post_form(base + "/destruction", {"DESTRUCTION": iso(want)})
        self.assertEqual(r.status, 303, r)
        self.assertEqual(r.header("Location"), f"{self.c.base}{base}")
        self.assertEqual(parse_iso(self.c.get(base + "/destruction").text()), want)
        r = self.c.post_form(base + "/destruction", {"DESTRUCTION": "2999-01-01T00:00:00Z"})
        self.assertEqual(r.status, 303, r)
        got = parse_iso(self.c.get(base + "/destruction").text())
        self.assertLessEqual(abs((got - created).total_seconds() - self.DESTR_MAX), 1.0)
        root, _ = self.job(self.c, job_id)
        self.assertEqual(parse_iso(root.findtext("uws:destruction", namespaces=NS)), got)
        for bad in ("tomorrow", "2024-13-45T00:00:00Z", ""):
            r = self.c.post_form(base + "/destruction", {"DESTRUCTION": bad})
            self.assert_error(r, 400, "DESTRUCTION")
        self.assertEqual(parse_iso(self.c.get(base + "/destruction").text()), got)

        # quote, owner: nil -> empty text/plain (anonymous mode, no estimate).
        for sub in ("quote", "owner"):
            r = self.c.get(f"{base}/{sub}")
            self.assertEqual((r.status, r.content_type, r.text()), (200, "text/plain", ""))
        # error: a PENDING job has none.
        self.assert_error(self.c.get(base + "/error"), 404, "error")
        # parameters, results: UWS documents.
        r = self.c.get(base + "/parameters")
        self.assertEqual(r.status, 200, r)
        root = validate(r.body, "UWS-v1.1.xsd")
        self.assertEqual(root.tag, uws("parameters"))
        self.assertEqual({p.get("id") for p in root}, {"model", "image"})
        r = self.c.get(base + "/results")
        self.assertEqual(r.status, 200, r)
        root = validate(r.body, "UWS-v1.1.xsd")
        self.assertEqual(root.tag, uws("results"))
        self.assertEqual(len(root), 0)
        self.assert_error(self.c.get(base + "/results/catalog"), 404, "catalog")
        self.assert_error(self.c.get(base + "/nonsense"), 404)

    def test_phase_changes(self):
        job_id = self.new_pending()
        for bad in ("run", "SUSPEND", "", "RUN;ABORT"):
            r = self.c.post_form(f"/jobs/{job_id}/phase", {"PHASE": bad})
            self.assert_error(r, 400, "PHASE")
        self.assert_error(self.c.post_form(f"/jobs/{job_id}/phase", {"X": "1"}), 400, "PHASE")
        self.assertEqual(self.phase(self.c, job_id), "PENDING")
        r = self.c.post_form(f"/jobs/{job_id}/phase", {"PHASE": "RUN"})
        self.assertEqual(r.status, 303, r)
        self.assertEqual(self.phase(self.c, job_id), "QUEUED")
        # RUN again on a QUEUED job: no change.
        r = self.c.post_form(f"/jobs/{job_id}/phase", {"PHASE": "RUN"})
        self.assertEqual(r.status, 303, r)
        self.assertEqual(self.phase(self.c, job_id), "QUEUED")
        r = self.c.post_form(f"/jobs/{job_id}/phase", {"PHASE": "ABORT"})
        self.assertEqual(r.status, 303, r)
        self.assertEqual(r.header("Location"), f"{self.c.base}/jobs/{job_id}")
        root, pj = self.job(self.c, job_id)
        self.assertEqual(pj.phase, "ABORTED")
        # A final phase never moves.
        r = self.c.post_form(f"/jobs/{job_id}/phase", {"PHASE": "RUN"})
        self.assert_error(r, 409, "ABORTED")
        self.assertEqual(self.phase(self.c, job_id), "ABORTED")
        # PHASE=ABORT on the job itself (POST {job}) works too.
        other = self.new_pending()
        r = self.c.post_form(f"/jobs/{other}", {"PHASE": "ABORT"})
        self.assertEqual(r.status, 303, r)
        self.assertEqual(self.phase(self.c, other), "ABORTED")

    def test_delete(self):
        for how in ("DELETE", "ACTION"):
            job_id = self.new_pending()
            self.assertTrue((self.jobs_dir() / job_id).is_dir())
            if how == "DELETE":
                r = self.c.delete(f"/jobs/{job_id}")
            else:
                r = self.c.post_form(f"/jobs/{job_id}", {"ACTION": "DELETE"})
            self.assertEqual(r.status, 303, r)
            self.assertEqual(r.header("Location"), f"{self.c.base}/jobs")
            self.assert_error(self.c.get(f"/jobs/{job_id}"), 404, job_id)
            self.assert_error(self.c.get(f"/jobs/{job_id}/phase"), 404)
            self.assertNotIn(job_id, self.job_ids(self.c))
            self.assertFalse((self.jobs_dir() / job_id).exists(), "job files left behind")
            self.assert_error(self.c.delete(f"/jobs/{job_id}"), 404)
        r = self.c.post_form(f"/jobs/{self.new_pending()}", {"ACTION": "REMOVE"})
        self.assert_error(r, 400, "ACTION")
        # A QUEUED job can be deleted too.
        job_id = self.create(self.c, [("MODEL", self.model), ("PHASE", "RUN")], image=self.image)
        self.assertEqual(self.c.delete(f"/jobs/{job_id}").status, 303)
        self.assertEqual(self.c.get(f"/jobs/{job_id}").status, 404)

    def test_pyvo_async_job_client(self):
        # pyvo's generic UWS job client against an existing job URL (see the module comment).
        job_id = self.new_pending()
        url = f"{self.c.base}/jobs/{job_id}"
        job = AsyncTAPJob(url)
        self.assertEqual(job.job_id, job_id)
        self.assertEqual(job.phase, "PENDING")
        self.assertEqual(job.uws_version, "1.1")
        job.execution_duration = 300
        self.assertEqual(int(self.c.get(f"/jobs/{job_id}/executionduration").text()), 300)
        when = (datetime.now(timezone.utc) + timedelta(hours=3)).replace(microsecond=0)
        job.destruction = when
        self.assertEqual(parse_iso(self.c.get(f"/jobs/{job_id}/destruction").text()), when)
        job.run()
        self.assertEqual(job.phase, "QUEUED")
        job.abort()
        self.assertEqual(job.phase, "ABORTED")
        job.delete()
        self.assertEqual(self.c.get(f"/jobs/{job_id}").status, 404)

    # ---- blocking WAIT (UWS 1.1) ----

    def test_wait_times_out(self):
        job_id = self.new_pending()
        r = self.c.get(f"/jobs/{job_id}", params={"WAIT": "2"}, timeout=60)
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(r.elapsed, 1.5)
        self.assertLess(r.elapsed, SLOW)
        self.assertEqual(self.check_job_doc(r.body, job_id)[1].phase, "PENDING")

    def test_wait_returns_on_phase_change(self):
        job_id = self.new_pending()
        out = {}

        def waiter():
            out["r"] = self.c.get(f"/jobs/{job_id}", params={"WAIT": "25"}, timeout=90)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(1.5)
        r = self.c.post_form(f"/jobs/{job_id}/phase", {"PHASE": "ABORT"})
        self.assertEqual(r.status, 303, r)
        t.join(90)
        self.assertFalse(t.is_alive())
        r = out["r"]
        self.assertEqual(r.status, 200, r)
        self.assertLess(r.elapsed, 15.0, "WAIT did not return on the phase change")
        self.assertEqual(self.check_job_doc(r.body, job_id)[1].phase, "ABORTED")

    def test_wait_returns_when_the_job_is_deleted(self):
        job_id = self.new_pending()
        out = {}

        def waiter():
            out["r"] = self.c.get(f"/jobs/{job_id}", params={"WAIT": "25"}, timeout=90)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(1.5)
        self.assertEqual(self.c.delete(f"/jobs/{job_id}").status, 303)
        t.join(90)
        self.assertLess(out["r"].elapsed, 15.0, "WAIT did not return on deletion")
        self.assert_error(out["r"], 404, job_id)

    def test_wait_stale_view_and_final_phase_return_at_once(self):
        job_id = self.new_pending()
        r = self.c.get(f"/jobs/{job_id}", params={"WAIT": "25", "PHASE": "QUEUED"})
        self.assertEqual(r.status, 200, r)
        self.assertLess(r.elapsed, 10.0)
        self.assertEqual(self.check_job_doc(r.body)[1].phase, "PENDING")
        self.c.post_form(f"/jobs/{job_id}/phase", {"PHASE": "ABORT"})
        r = self.c.get(f"/jobs/{job_id}", params={"WAIT": "25"})
        self.assertEqual(r.status, 200, r)
        self.assertLess(r.elapsed, 10.0)
        self.assert_error(self.c.get(f"/jobs/{self.new_pending()}", params={"WAIT": "x"}), 400,
                          "WAIT")
        self.assert_error(self.c.get(f"/jobs/{self.new_pending()}", params={"WAIT": "-7"}), 400,
                          "WAIT")
        self.assert_error(self.c.get(f"/jobs/{self.new_pending()}",
                                     params={"WAIT": "5", "PHASE": "BOGUS"}), 400, "PHASE")

    def test_many_waits_hold_no_thread(self):
        job_id = self.new_pending()
        n = 24  # far more than the HTTP thread pool
        results = []
        lock = threading.Lock()

        def waiter():
            r = self.c.get(f"/jobs/{job_id}", params={"WAIT": "15"}, timeout=90)
            with lock:
                results.append(r)

        threads = [threading.Thread(target=waiter) for _ in range(n)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        r = self.c.get("/health", timeout=SLOW)
        self.assertEqual(r.status, 200, r)
        # Were the WAITs holding the pool's threads, /health would wait for them (15 s).
        self.assertLess(r.elapsed, 10.0, "the blocked WAITs starve other requests")
        for t in threads:
            t.join(120)
        self.assertEqual(len(results), n)
        self.assertTrue(all(x.status == 200 for x in results))

    # ---- bad inputs (issue 2 item 4): clear message, right status, server keeps serving ----

    def assert_no_new_job(self, before):
        self.assertEqual(self.job_ids(self.c), before)
        tmp = self.srv.data_dir / "tmp"
        deadline = time.monotonic() + SLOW
        while list(tmp.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)  # the temp upload goes when the request is released, after its answer
        self.assertEqual(list(tmp.iterdir()), [], "temp upload left behind")
        on_disk = {p.name for p in self.jobs_dir().iterdir()}
        self.assertTrue(on_disk <= before, f"files of a refused job: {on_disk - before}")

    def test_bad_uploads(self):
        good = [("MODEL", self.model), ("PHASE", "RUN")]
        truncated = self.image[:len(self.image) // 2]
        cases = [
            (b"SIMPLE? no, this is a text file\n" * 200, "not a FITS file"),
            (b"\x89PNG\r\n\x1a\n" + b"\0" * 4000, "not a FITS file"),
            (truncated, "truncated"),
            (self.image[:2880], ""),  # header cut inside: no END card / no data
            (b"", "empty"),
            (make_fits(64, 1), ""),  # one degenerate axis: not an image
        ]
        for data, needle in cases:
            with self.subTest(size=len(data), needle=needle):
                before = self.job_ids(self.c)
                r = self.create(self.c, good, image=data, expect=400)
                self.assert_error(r, 400, needle)
                self.assert_no_new_job(before)
                self.assert_alive(self.srv)
        # Without PHASE=RUN the job is created PENDING; queueing it then fails with the reason
        # and leaves it PENDING.
        job_id = self.create(self.c, [("MODEL", self.model)], image=truncated)
        r = self.c.post_form(f"/jobs/{job_id}/phase", {"PHASE": "RUN"})
        self.assert_error(r, 400, "truncated")
        self.assertEqual(self.phase(self.c, job_id), "PENDING")
        # A multipart body cut off inside the image part (no closing boundary): refused, not a
        # job with part of an image.
        before = self.job_ids(self.c)
        body = Multipart().field("MODEL", self.model).file("image", "a.fits", data=self.image)
        cut = body.body()[:len(body.body()) // 2]
        r = self.c.request("POST", "/jobs", body=cut,
                           headers={"Content-Type": body.headers()["Content-Type"]})
        self.assert_error(r, 400, "truncated")
        self.assert_no_new_job(before)
        # Two images in one job.
        before = self.job_ids(self.c)
        mp = Multipart().field("MODEL", self.model)
        mp.file("image", "a.fits", data=self.image).file("image2", "b.fits", data=self.image)
        self.assert_error(self.c.post_multipart("/jobs", mp), 400, "one image")
        self.assert_no_new_job(before)

    def test_bad_parameters(self):
        before = self.job_ids(self.c)
        run = [("PHASE", "RUN")]
        cases = [
            ([("MODEL", "no_such_model")] + run, 404, "no_such_model"),
            ([("MODEL", "../../etc")] + run, 400, "model"),
            ([("MODEL", self.model), ("PRECISION", "FP64")] + run, 400, "precision"),
            ([("MODEL", self.model), ("PRECISION", "FP64")], 400, "precision"),
            ([("MODEL", self.model), ("RA", "abc"), ("DEC", "1"), ("SIZE", "0.1")], 400, "ra"),
            ([("MODEL", self.model), ("DEC", "95")], 400, "dec"),
            ([("MODEL", self.model), ("SIZE", "-1")], 400, "size"),
            ([("MODEL", self.model), ("THRESHOLD", "nan")], 400, "threshold"),
            ([("MODEL", self.model), ("ROI", "1,2,3")], 400, "roi"),
            ([("MODEL", self.model), ("EXECUTIONDURATION", "soon")], 400, "EXECUTIONDURATION"),
            ([("MODEL", self.model), ("DESTRUCTION", "never")], 400, "DESTRUCTION"),
            ([("MODEL", self.model), ("PHASE", "ABORT")], 400, "PHASE"),
            ([("MODEL", self.model), ("ROI", "0,0,300,300")] + run, 400, "roi"),
            ([("MODEL", self.model), ("ROI", "10,10,20,20"), ("RA", "61.88")] + run, 400, ""),
            ([("MODEL", self.model), ("RA", "10"), ("DEC", "-30"), ("SIZE", "0.01")] + run, 400,
             "outside"),
            ([("MODEL", self.model), ("HDU", "7")] + run, 400, "hdu"),
            ([("MODEL", self.model), ("bad name!", "1")], 400, ""),
        ]
        missing = [p for p in ("FP32", "BF16", "FP16", "TF32", "INT8") if p not in self.precisions]
        if missing:
            cases.append(([("MODEL", self.model), ("PRECISION", missing[0])] + run, 400,
                          missing[0]))
        for fields, status, needle in cases:
            with self.subTest(fields=fields):
                r = self.create(self.c, fields, image=self.image, expect=status)
                self.assert_error(r, status, needle)
                self.assert_no_new_job(before)
        # IMAGE_URL on a server with no allowed hosts.
        r = self.c.post_form("/jobs", {"MODEL": self.model,
                                       "IMAGE_URL": "http://127.0.0.1:9/a.fits"})
        self.assert_error(r, 400, "IMAGE_URL")
        self.assert_no_new_job(before)
        # Bad numbers in queries.
        job_id = self.new_pending()
        for params, needle in (({"LAST": "-1"}, "LAST"), ({"LAST": "x"}, "LAST"),
                               ({"LAST": "0"}, "LAST"), ({"AFTER": "yesterday"}, "AFTER"),
                               ({"PHASE": "pending"}, "PHASE")):
            with self.subTest(params=params):
                self.assert_error(self.c.get("/jobs", params=params), 400, needle)
        self.assert_error(self.c.get(f"/jobs/{job_id}", params={"WAIT": "x"}), 400, "WAIT")
        # JSON errors for JSON clients.
        r = self.c.get("/jobs", params={"LAST": "-1"}, accept="application/json")
        self.assertEqual(r.content_type, "application/json")
        self.assert_error(r, 400, "LAST")
        self.assertEqual(r.json()["status"], 400)

    def test_malformed_and_hostile_xml(self):
        passwd = Path("/etc/passwd").read_text(errors="replace")
        secret = next(line for line in passwd.splitlines() if line.startswith("root:"))
        lol = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
               + "".join(f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
                         for i in range(1, 10))
               + f']>\n<uws:job xmlns:uws="{UWS_NS}"><uws:parameters>'
               '<uws:parameter id="ModelName">&lol9;</uws:parameter>'
               "</uws:parameters></uws:job>\n")
        xxe = ('<?xml version="1.0"?>\n<!DOCTYPE job [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
               f'<uws:job xmlns:uws="{UWS_NS}"><uws:parameters>'
               '<uws:parameter id="Note">&xxe;</uws:parameter>'
               f'<uws:parameter id="ModelName">{self.model}</uws:parameter>'
               "</uws:parameters></uws:job>\n")
        xxe_param = ('<?xml version="1.0"?>\n<!DOCTYPE job [<!ENTITY % p SYSTEM '
                     '"file:///etc/passwd"> %p;]>\n'
                     f'<uws:job xmlns:uws="{UWS_NS}"/>\n')
        net = ('<?xml version="1.0"?>\n<!DOCTYPE job SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
               f'<uws:job xmlns:uws="{UWS_NS}"/>\n')
        xinclude = (f'<uws:job xmlns:uws="{UWS_NS}" xmlns:xi="http://www.w3.org/2001/XInclude">'
                    '<uws:parameters><uws:parameter id="Note">'
                    '<xi:include href="file:///etc/passwd" parse="text"/>'
                    "</uws:parameter></uws:parameters></uws:job>")
        deep = f'<uws:job xmlns:uws="{UWS_NS}">' + "<a>" * 5000 + "</a>" * 5000 + "</uws:job>"
        cases = [
            ("<uws:job xmlns:uws='x'><unclosed>", "description"),
            ("not xml at all", "description"),
            (f'<uws:job xmlns:uws="{UWS_NS}"><uws:parameters><uws:parameter id="RA">abc'
             "</uws:parameter></uws:parameters></uws:job>", "ra"),
            ("<html><body>wrong root</body></html>", "description"),
            (lol, "description"),
            (xxe, "description"),
            (xxe_param, "description"),
            (net, "description"),
            (deep, "description"),
        ]
        before = self.job_ids(self.c)
        for desc, needle in cases:
            for how in ("multipart", "raw"):
                with self.subTest(desc=desc[:60], how=how):
                    if how == "multipart":
                        r = self.create(self.c, [], desc=desc, expect=400)
                    else:
                        r = self.c.request("POST", "/jobs", body=desc.encode(),
                                           headers={"Content-Type": "application/xml"},
                                           timeout=SLOW)
                    self.assertLess(r.elapsed, SLOW)
                    self.assert_error(r, 400, needle)
                    self.assertNotIn(secret.encode(), r.body)
                    self.assertNotIn(b"lollollol", r.body)
                    self.assert_no_new_job(before)
                    self.assert_alive(self.srv)
        # XInclude is not processed: if the document is accepted, the file never leaks.
        r = self.c.post_multipart("/jobs", Multipart().field("description", xinclude,
                                                             content_type="text/xml"))
        self.assertIn(r.status, (303, 400), r)
        self.assertNotIn(secret.encode(), r.body)
        for job_id, _ in self.job_list(self.c):
            for res in ("", "/parameters"):
                body = self.c.get(f"/jobs/{job_id}{res}").body
                self.assertNotIn(secret.encode(), body)
                self.assertNotIn(b"lollollol", body)

    def test_unknown_jobs_and_wrong_methods(self):
        for path in ("/jobs/nosuchjob", "/jobs/nosuchjob/phase", "/jobs/nosuchjob/parameters",
                     "/jobs/nosuchjob/results", "/jobs/nosuchjob/parameters/image",
                     "/jobs/..%2F..%2Fetc", "/jobs/" + "x" * 300, "/nowhere"):
            with self.subTest(path=path):
                self.assert_error(self.c.get(path), 404)
        self.assert_error(self.c.delete("/jobs/nosuchjob"), 404, "nosuchjob")
        self.assert_error(self.c.post_form("/jobs/nosuchjob/phase", {"PHASE": "RUN"}), 404)
        self.assert_error(self.c.post_form("/jobs/nosuchjob", {"ACTION": "DELETE"}), 404)
        self.assert_error(self.c.post_form("/jobs/nosuchjob/executionduration",
                                           {"EXECUTIONDURATION": "5"}), 404)
        job_id = self.new_pending()
        ro, rw = {"GET", "HEAD"}, {"GET", "HEAD", "POST"}
        for method, path, allow in (
                ("PUT", "/jobs", rw), ("DELETE", "/jobs", rw), ("PATCH", "/jobs", rw),
                ("PUT", f"/jobs/{job_id}", rw | {"DELETE"}),
                ("PATCH", f"/jobs/{job_id}", rw | {"DELETE"}),
                ("PUT", f"/jobs/{job_id}/phase", rw), ("DELETE", f"/jobs/{job_id}/phase", rw),
                ("DELETE", f"/jobs/{job_id}/destruction", rw),
                ("POST", f"/jobs/{job_id}/owner", ro), ("POST", f"/jobs/{job_id}/quote", ro),
                ("POST", f"/jobs/{job_id}/results", ro), ("POST", "/models", ro),
                ("DELETE", "/models", ro), ("POST", "/health", ro), ("POST", "/capabilities", ro),
                ("PUT", "/availability", ro), ("POST", "/metrics", ro)):
            with self.subTest(method=method, path=path):
                r = self.c.request(method, path, body=b"", headers={"Content-Length": "0"})
                self.assert_error(r, 405, method)
                # RFC 9110: a 405 names the methods the resource has.
                got = {m.strip() for m in (r.header("Allow") or "").split(",") if m.strip()}
                self.assertEqual(got, allow)
        self.assertEqual(self.phase(self.c, job_id), "PENDING")
        # A body with a Content-Type the service does not take.
        r = self.c.request("POST", "/jobs", body=b'{"MODEL": "x"}',
                           headers={"Content-Type": "application/json"})
        self.assert_error(r, 415, "Content-Type")

    # ---- destruction (reaper) ----

    def test_destruction_in_the_past_is_reaped(self):
        job_id = self.new_pending()
        other = self.new_pending()
        self.assertTrue((self.jobs_dir() / job_id).is_dir())
        past = datetime.now(timezone.utc) - timedelta(minutes=5)
        r = self.c.post_form(f"/jobs/{job_id}/destruction", {"DESTRUCTION": iso(past)})
        self.assertEqual(r.status, 303, r)
        # Also at creation.
        born_dead = self.create(self.c, [("MODEL", self.model), ("DESTRUCTION", iso(past))],
                                image=self.image)
        deadline = time.monotonic() + 60
        gone = set()
        while time.monotonic() < deadline and len(gone) < 2:
            for j in (job_id, born_dead):
                if self.c.get(f"/jobs/{j}").status == 404:
                    gone.add(j)
            time.sleep(0.2)
        self.assertEqual(gone, {job_id, born_dead}, "the reaper did not remove the jobs")
        for j in gone:
            self.assertFalse((self.jobs_dir() / j).exists(), "reaped job's files remain")
            self.assertNotIn(j, self.job_ids(self.c))
        self.assertEqual(self.phase(self.c, other), "PENDING")
        self.assertTrue((self.jobs_dir() / other).is_dir())
        m = self.c.get("/metrics").text()
        self.assertRegex(m, r"(?m)^otf_jobs_destroyed_total [2-9][0-9]*$")


# =============================================================================================


class LimitsTest(ServerCase):
    """Small caps: upload and form size, WAIT, queue length."""

    UPLOAD_MAX = 65536
    FORM_MAX = 65536

    @classmethod
    def setUpClass(cls):
        cls.tmp = cls.make_tmp()
        cls.srv = cls.start_server(cls.tmp, "limits", "--http.upload_max_bytes", cls.UPLOAD_MAX,
                                   "--http.form_max_bytes", cls.FORM_MAX, "--http.wait_max_s", "2",
                                   "--queue.max_jobs", "2")
        cls.c = cls.srv.client()
        cls.model = cls.c.get("/models", accept="application/json").json()["models"][0]["id"]
        cls.small = make_fits(64, 48)
        assert len(cls.small) < cls.UPLOAD_MAX

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop_clean()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        self.assert_alive(self.srv)

    def tmp_files(self):
        return list((self.srv.data_dir / "tmp").iterdir())

    def assert_nothing_kept(self, before):
        self.assertEqual(self.job_ids(self.c), before, "a refused request created a job")
        deadline = time.monotonic() + SLOW
        while self.tmp_files() and time.monotonic() < deadline:
            time.sleep(0.1)  # the request may be released just after its answer
        self.assertEqual(self.tmp_files(), [], "the refused upload was kept")

    def head(self, extra=""):
        return (f"POST /jobs HTTP/1.1\r\nHost: {self.c.host}:{self.c.port}\r\n"
                "Content-Type: multipart/form-data; boundary=otfcap\r\n" + extra + "\r\n").encode()

    @staticmethod
    def big_body(total):
        yield (b'--otfcap\r\nContent-Disposition: form-data; name="image"; filename="b.fits"'
               b"\r\nContent-Type: application/fits\r\n\r\n")
        block = make_fits(64, 48)[:2880] + b"\0" * (65536 - 2880)
        n = 0
        while n < total:
            yield block
            n += len(block)

    def test_upload_over_the_cap_is_413(self):
        # The declared size is within upload + form caps, the file part is not: refused while
        # it streams in, answered 413 at the end of the body, nothing stored.
        before = self.job_ids(self.c)
        big = make_fits(160, 128)
        self.assertGreater(len(big), self.UPLOAD_MAX)
        self.assertLess(len(big), self.UPLOAD_MAX + self.FORM_MAX)
        r = self.create(self.c, [("MODEL", self.model)], image=big, expect=413)
        self.assert_error(r, 413, "limit")
        self.assert_nothing_kept(before)
        # Form fields over their own cap.
        r = self.c.post_form("/jobs", {"MODEL": self.model, "NOTE": "x" * (self.FORM_MAX + 10)})
        self.assert_error(r, 413, "form")
        self.assert_nothing_kept(before)

    def test_declared_length_over_the_cap_is_refused_before_the_body(self):
        # Content-Length says too much: the answer comes before the body is read, with or
        # without Expect: 100-continue.
        before = self.job_ids(self.c)
        total = 64 * 1024 * 1024
        for expect in ("Expect: 100-continue\r\n", ""):
            with self.subTest(expect=expect):
                head = self.head(f"Content-Length: {total + 200}\r\n{expect}")
                answer, sent, _ = stream_request(self.c.host, self.c.port, head,
                                                 self.big_body(total), expect_wait=5.0)
                self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:300])
                self.assertLess(sent, total // 4, "the server read the refused body")
                self.assertIn(b"limit", answer.lower())
        self.assert_nothing_kept(before)

    def test_chunked_upload_over_the_cap_is_cut_off(self):
        # No Content-Length: the server counts the body as it streams in, stores nothing past
        # the cap and stops reading soon after (413, or the connection cut off).
        before = self.job_ids(self.c)
        total = 64 * 1024 * 1024

        def chunked():
            for block in self.big_body(total):
                yield b"%x\r\n" % len(block) + block + b"\r\n"
            yield b"0\r\n\r\n"

        answer, sent, dropped = stream_request(self.c.host, self.c.port,
                                               self.head("Transfer-Encoding: chunked\r\n"),
                                               chunked(), expect_wait=0.2)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413") or dropped, answer[:300])
        self.assertLess(sent, total // 2, "the server read far past the cap")
        self.assert_nothing_kept(before)

    def test_wait_is_capped(self):
        job_id = self.create(self.c, [("MODEL", self.model)], image=self.small)
        for wait in ("60", "-1"):
            r = self.c.get(f"/jobs/{job_id}", params={"WAIT": wait}, timeout=90)
            self.assertEqual(r.status, 200, r)
            self.assertGreaterEqual(r.elapsed, 1.5)
            self.assertLess(r.elapsed, SLOW, "WAIT not capped by http.wait_max_s")

    def test_queue_bound_503(self):
        run = [("MODEL", self.model), ("PHASE", "RUN")]
        queued = [self.create(self.c, run, image=self.small) for _ in range(2)]
        before = self.job_ids(self.c)
        r = self.create(self.c, run, image=self.small, expect=503)
        self.assert_error(r, 503, "queue")
        self.assertIsNotNone(r.header("Retry-After"))
        self.assertRegex(r.header("Retry-After"), r"^[0-9]+$")
        self.assertEqual(self.job_ids(self.c), before, "a refused creation left a job")
        # A PENDING job can still be created, but not queued.
        pending = self.create(self.c, [("MODEL", self.model)], image=self.small)
        r = self.c.post_form(f"/jobs/{pending}/phase", {"PHASE": "RUN"})
        self.assert_error(r, 503, "queue")
        self.assertIsNotNone(r.header("Retry-After"))
        self.assertEqual(self.phase(self.c, pending), "PENDING")
        # Room again once a queued job leaves the queue.
        self.assertEqual(self.c.post_form(f"/jobs/{queued[0]}/phase",
                                          {"PHASE": "ABORT"}).status, 303)
        r = self.c.post_form(f"/jobs/{pending}/phase", {"PHASE": "RUN"})
        self.assertEqual(r.status, 303, r)
        self.assertEqual(self.phase(self.c, pending), "QUEUED")
        for j in queued[1:] + [pending]:
            self.c.delete(f"/jobs/{j}")

    def test_queue_bound_holds_under_concurrent_requests(self):
        def queued():
            return [i for i, _ in self.job_list(self.c, {"PHASE": "QUEUED"})]

        for j in queued():  # start from an empty queue
            self.c.post_form(f"/jobs/{j}/phase", {"PHASE": "ABORT"})
        pending = [self.create(self.c, [("MODEL", self.model)], image=self.small)
                   for _ in range(6)]
        statuses = []
        lock = threading.Lock()

        def create():
            mp = Multipart().field("MODEL", self.model).field("PHASE", "RUN")
            r = self.c.post_multipart("/jobs", mp.file("image", "a.fits", data=self.small))
            with lock:
                statuses.append(r.status)

        def run(job_id):
            r = self.c.post_form(f"/jobs/{job_id}/phase", {"PHASE": "RUN"})
            with lock:
                statuses.append(r.status)

        threads = [threading.Thread(target=create) for _ in range(12)]
        threads += [threading.Thread(target=run, args=(j,)) for j in pending]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(sorted(set(statuses)), [303, 503])
        self.assertEqual(statuses.count(303), 2, statuses)
        self.assertEqual(len(queued()), 2, "queue.max_jobs overshot by concurrent requests")
        for j in queued():
            self.c.post_form(f"/jobs/{j}/phase", {"PHASE": "ABORT"})


# =============================================================================================


class AuthTest(ServerCase):
    """Bearer tokens (sha256 of each token in the tokens file): owners and an admin."""

    TOKENS = {"alice": "tok-alice-0123456789", "bob": "tok-bob-9876543210",
              "root": "tok-root-admin-5555"}

    @classmethod
    def setUpClass(cls):
        cls.tmp = cls.make_tmp()
        tf = cls.tmp / "tokens"
        lines = ["# sha256(token) owner [admin]"]
        for owner, tok in cls.TOKENS.items():
            lines.append(f"{sha256(tok.encode())} {owner}" + (" admin" if owner == "root"
                                                             else ""))
        tf.write_text("\n".join(lines) + "\n")
        cls.srv = cls.start_server(cls.tmp, "auth", "--http.tokens_file", tf)
        cls.anon = cls.srv.client()
        cls.alice = cls.srv.client(cls.TOKENS["alice"])
        cls.bob = cls.srv.client(cls.TOKENS["bob"])
        cls.root = cls.srv.client(cls.TOKENS["root"])
        cls.model = cls.alice.get("/models", accept="application/json").json()["models"][0]["id"]
        cls.small = make_fits(32, 32)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop_clean()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_tokens_and_owners(self):
        # 401 without a token and with a wrong one, for reads and writes.
        for c in (self.anon, self.srv.client("wrong-token")):
            for r in (c.get("/jobs"), c.get("/models"),
                      c.post_form("/jobs", {"MODEL": self.model})):
                self.assert_error(r, 401, "token")
                self.assertIn("Bearer", r.header("WWW-Authenticate") or "")
        r = self.anon.request("GET", "/jobs", headers={"Authorization": "Basic YWxpY2U6eA=="})
        self.assert_error(r, 401)
        self.assertEqual(self.anon.get("/health").status, 200)  # liveness stays public
        self.assertEqual(self.anon.get("/availability").status, 200)

        a = self.create(self.alice, [("MODEL", self.model)], image=self.small)
        b = self.create(self.bob, [("MODEL", self.model)], image=self.small)
        root, pj = self.job(self.alice, a)
        self.assertEqual(pj.ownerid, "alice")
        self.assertEqual(self.alice.get(f"/jobs/{a}/owner").text(), "alice")
        # Owners see only their own jobs; somebody else's job does not exist for them.
        self.assertEqual(self.job_ids(self.alice), {a})
        self.assertEqual(self.job_ids(self.bob), {b})
        for r in (self.bob.get(f"/jobs/{a}"), self.bob.get(f"/jobs/{a}/parameters/image"),
                  self.bob.post_form(f"/jobs/{a}/phase", {"PHASE": "ABORT"}),
                  self.bob.delete(f"/jobs/{a}")):
            self.assert_error(r, 404)
        self.assertEqual(self.phase(self.alice, a), "PENDING")
        # The admin sees and may act on every job.
        self.assertEqual(self.job_ids(self.root), {a, b})
        self.assertEqual(self.job(self.root, b)[1].ownerid, "bob")
        self.assertEqual(self.root.post_form(f"/jobs/{b}/phase", {"PHASE": "ABORT"}).status, 303)
        self.assertEqual(self.phase(self.bob, b), "ABORTED")
        lst = self.job_list(self.root, {"PHASE": "ABORTED"})
        self.assertEqual([i for i, _ in lst], [b])
        owners = parse_xml(self.root.get("/jobs").body).findall("uws:jobref/uws:ownerId", NS)
        self.assertEqual(sorted(o.text for o in owners), ["alice", "bob"])

    def test_no_token_is_refused_before_the_upload(self):
        # Nothing of an anonymous caller's body is read or stored: 401 comes before the body.
        total = 64 * 1024 * 1024
        head = (f"POST /jobs HTTP/1.1\r\nHost: {self.anon.host}:{self.anon.port}\r\n"
                "Content-Type: multipart/form-data; boundary=otfauth\r\n"
                f"Content-Length: {total + 200}\r\n\r\n").encode()

        def body():
            yield (b'--otfauth\r\nContent-Disposition: form-data; name="image"; '
                   b'filename="a.fits"\r\n\r\n')
            for _ in range(total // 65536):
                yield b"\0" * 65536

        answer, sent, _ = stream_request(self.anon.host, self.anon.port, head, body(),
                                         expect_wait=5.0)
        self.assertTrue(answer.startswith(b"HTTP/1.1 401"), answer[:300])
        self.assertLess(sent, total // 4, "the server read an unauthenticated upload")
        self.assertEqual(list((self.srv.data_dir / "tmp").iterdir()), [])


# =============================================================================================


class _ImageHandler(http.server.BaseHTTPRequestHandler):
    """A tiny archive for IMAGE_URL: /ok.fits, /big.fits, /empty.fits, /redirect, else 404."""

    files = {}
    release = threading.Event()  # ends the trickle of /slow.fits

    def do_GET(self):
        if self.path == "/slow.fits":
            # An archive that answers, then trickles 2 kB/s of a 60 kB file.
            self.send_response(200)
            self.send_header("Content-Length", "60000")
            self.end_headers()
            while not self.release.wait(0.5):
                try:
                    self.wfile.write(b"\0" * 1024)
                    self.wfile.flush()
                except OSError:
                    return
            return
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://example.org/ok.fits")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/fits")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class ImageUrlTest(ServerCase):
    """IMAGE_URL: fetched by the server from allowed hosts only, http(s) only, no redirects,
    under a size cap (DESIGN §3)."""

    FETCH_MAX = 65536

    @classmethod
    def setUpClass(cls):
        cls.small = make_fits(64, 48)
        _ImageHandler.files = {"/ok.fits": cls.small, "/empty.fits": b"",
                               "/big.fits": make_fits(200, 200)}
        cls.archive = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ImageHandler)
        cls.archive_thread = threading.Thread(target=cls.archive.serve_forever, daemon=True)
        cls.archive_thread.start()
        cls.base = f"http://127.0.0.1:{cls.archive.server_address[1]}"
        cls.tmp = cls.make_tmp()
        try:
            cls.srv = cls.start_server(cls.tmp, "fetch", "--http.image_url_allow", "127.0.0.1",
                                       "--http.image_url_max_bytes", cls.FETCH_MAX)
        except Exception:
            cls.archive.shutdown()
            raise
        cls.c = cls.srv.client()
        cls.model = cls.c.get("/models", accept="application/json").json()["models"][0]["id"]

    @classmethod
    def tearDownClass(cls):
        _ImageHandler.release.set()
        cls.archive.shutdown()
        cls.archive.server_close()
        try:
            cls.srv.stop_clean()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def slow_creations(self, c, n):
        answers = []
        lock = threading.Lock()

        def create():
            try:
                r = c.post_form("/jobs", {"MODEL": self.model,
                                          "IMAGE_URL": self.base + "/slow.fits"}, timeout=120)
            except OSError as e:
                r = e
            with lock:
                answers.append(r)

        threads = [threading.Thread(target=create) for _ in range(n)]
        for t in threads:
            t.start()
        return threads, answers

    def test_slow_archive_holds_no_http_thread(self):
        # Downloads run off the HTTP threads: 16 of them stuck on a slow archive (more than
        # http.threads) must not stop the service from answering.
        _ImageHandler.release.clear()
        before = self.job_ids(self.c)
        threads, answers = self.slow_creations(self.c, 16)
        time.sleep(2.0)
        for path in ("/health", "/jobs"):
            r = self.c.get(path, timeout=SLOW)
            self.assertEqual(r.status, 200, r)
            self.assertLess(r.elapsed, 10.0, "IMAGE_URL downloads hold the HTTP threads")
        _ImageHandler.release.set()  # the archive gives up: every download fails
        for t in threads:
            t.join(120)
        self.assertEqual(len(answers), 16)
        for r in answers:
            self.assertNotIsInstance(r, OSError)
            self.assert_error(r, 502, "IMAGE_URL")
        self.assertEqual(self.job_ids(self.c), before)
        deadline = time.monotonic() + SLOW
        while list((self.srv.data_dir / "tmp").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(list((self.srv.data_dir / "tmp").iterdir()), [])

    def test_stop_during_downloads(self):
        # A server stopping with downloads in flight aborts them and exits cleanly, at once.
        _ImageHandler.release.clear()
        srv = self.start_server(self.tmp, "fetch-stop", "--http.image_url_allow", "127.0.0.1")
        self.addCleanup(srv.kill9)
        threads, answers = self.slow_creations(srv.client(), 3)
        time.sleep(2.0)
        t0 = time.monotonic()
        srv.stop_clean()
        self.assertLess(time.monotonic() - t0, SLOW)
        _ImageHandler.release.set()
        for t in threads:
            t.join(120)
        self.assertEqual(len(answers), 3)

    def test_image_url(self):
        job_id = self.create(self.c, [("MODEL", self.model), ("IMAGE_URL", self.base + "/ok.fits"),
                                      ("PHASE", "RUN")], form=True)
        root, pj = self.job(self.c, job_id)
        self.assertEqual(pj.phase, "QUEUED")
        params = self.params_of(root)
        self.assertEqual(params["image_url"], self.base + "/ok.fits")
        self.assertEqual(params["image"], f"{self.c.base}/jobs/{job_id}/parameters/image")
        self.assertEqual(sha256(self.c.get(params["image"]).body), sha256(self.small))
        self.assertEqual((self.srv.data_dir / "jobs" / job_id / "image.fits.sha256").read_text(),
                         sha256(self.small) + "\n")

        before = self.job_ids(self.c)
        port = self.archive.server_address[1]
        for url, status, needle in (
                ("file:///etc/passwd", 400, "image_url"),
                (f"ftp://127.0.0.1:{port}/ok.fits", 400, "image_url"),
                (f"http://localhost:{port}/ok.fits", 400, "allow"),
                (f"http://127.0.0.2:{port}/ok.fits", 400, "allow"),
                (self.base + "/redirect", 502, "redirect"),
                (self.base + "/missing.fits", 502, "404"),
                (self.base + "/empty.fits", 400, "empty"),
                (self.base + "/big.fits", 413, "larger"),
                ("http://127.0.0.1:1/ok.fits", 502, "image_url")):
            with self.subTest(url=url):
                r = self.c.post_form("/jobs", {"MODEL": self.model, "IMAGE_URL": url},
                                     timeout=90)
                self.assert_error(r, status, needle)
                self.assertNotIn(b"root:", r.body)
                self.assertEqual(self.job_ids(self.c), before)
                self.assertEqual(sorted(p.name for p in (self.srv.data_dir / "jobs").iterdir()),
                                 sorted(before), "files of a refused job were kept")


# =============================================================================================


class QuotaTest(ServerCase):
    """Per-owner job quota (uws.owner_max_jobs) under concurrent requests."""

    MAX_JOBS = 3

    @classmethod
    def setUpClass(cls):
        cls.tmp = cls.make_tmp()
        tf = cls.tmp / "tokens"
        tf.write_text(f"{sha256(b'tok-quota-carol')} carol\n")
        cls.srv = cls.start_server(cls.tmp, "quota", "--http.tokens_file", tf,
                                   "--uws.owner_max_jobs", cls.MAX_JOBS)
        cls.c = cls.srv.client("tok-quota-carol")
        cls.model = cls.c.get("/models", accept="application/json").json()["models"][0]["id"]
        cls.small = make_fits(32, 32)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop_clean()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        for j in self.job_ids(self.c):  # each test starts with no job
            self.assertEqual(self.c.delete(f"/jobs/{j}").status, 303)

    def test_image_added_to_a_job_at_the_quota(self):
        jobs = [self.create(self.c, [("MODEL", self.model)], form=True)
                for _ in range(self.MAX_JOBS)]
        r = self.create(self.c, [("MODEL", self.model)], form=True, expect=403)
        self.assert_error(r, 403, "quota")
        # Completing one of the owner's own jobs adds no job: it is not a quota matter.
        mp = Multipart().file("image", "a.fits", data=self.small)
        r = self.c.post_multipart(f"/jobs/{jobs[0]}/parameters", mp)
        self.assertEqual(r.status, 303, r)
        self.assertIn("image", self.params_of(self.job(self.c, jobs[0])[0]))
        r = self.c.post_form(f"/jobs/{jobs[1]}/parameters", {"THRESHOLD": "0.3"})
        self.assertEqual(r.status, 303, r)

    def test_owner_job_quota_holds_under_concurrent_creations(self):
        statuses = []
        lock = threading.Lock()

        def create():
            mp = Multipart().field("MODEL", self.model)
            r = self.c.post_multipart("/jobs", mp.file("image", "a.fits", data=self.small))
            with lock:
                statuses.append(r)

        threads = [threading.Thread(target=create) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(sum(r.status == 303 for r in statuses), self.MAX_JOBS,
                         [r.status for r in statuses])
        for r in statuses:
            if r.status != 303:
                self.assert_error(r, 403, "quota")
        self.assertEqual(len(self.job_ids(self.c)), self.MAX_JOBS)
        self.assertEqual(sorted(p.name for p in (self.srv.data_dir / "jobs").iterdir()),
                         sorted(self.job_ids(self.c)), "files of refused jobs were kept")


# =============================================================================================


class DurabilityTest(ServerCase):
    """kill -9 right after a burst of accepted creations: a restart loses none of them."""

    def setUp(self):
        self.tmp = self.make_tmp()
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_kill9_loses_no_accepted_job(self):
        srv = self.start_server(self.tmp, "durable")
        self.addCleanup(srv.kill9)
        c = srv.client()
        model = c.get("/models", accept="application/json").json()["models"][0]["id"]
        image = make_fits(48, 40)
        accepted = {}  # id -> (phase, params sent, image sha or None)
        lock = threading.Lock()
        stop = threading.Event()
        want = 40

        def burst(k):
            i = 0
            while not stop.is_set():
                i += 1
                kind = (k + i) % 3
                tag = f"w{k}-{i}"
                try:
                    if kind == 0:
                        mp = Multipart().field("MODEL", model).field("RUNID", tag)
                        mp.field("PHASE", "RUN").file("image", "i.fits", data=image)
                        r = c.post_multipart("/jobs", mp, timeout=SLOW)
                        phase, sha = "QUEUED", sha256(image)
                    elif kind == 1:
                        mp = Multipart().field("MODEL", model).field("RUNID", tag)
                        mp.field("THRESHOLD", "0.25").file("image", "i.fits", data=image)
                        r = c.post_multipart("/jobs", mp, timeout=SLOW)
                        phase, sha = "PENDING", sha256(image)
                    else:
                        r = c.post_form("/jobs", {"MODEL": model, "RUNID": tag, "NMS": "0.3"},
                                        timeout=SLOW)
                        phase, sha = "PENDING", None
                except OSError:
                    continue  # the kill interrupted this request: it was never accepted
                if r.status == 303:
                    with lock:
                        accepted[r.header("Location").rsplit("/", 1)[1]] = (phase, tag, kind,
                                                                            sha)
                        if len(accepted) >= want:
                            stop.set()

        threads = [threading.Thread(target=burst, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        stop.wait(300)
        srv.kill9()  # while the other workers still have requests in flight
        for t in threads:
            t.join(120)
        self.assertGreaterEqual(len(accepted), want)

        srv2 = Otfd(OTFD, srv.data_dir, "--workers", "0", name="durable2")
        srv2.start()
        self.addCleanup(srv2.kill9)
        c2 = srv2.client()
        listed = dict(self.job_list(c2))
        for job_id, (phase, tag, kind, sha) in accepted.items():
            with self.subTest(job=job_id):
                self.assertIn(job_id, listed, "an accepted job was lost")
                self.assertEqual(listed[job_id], phase)
                root, pj = self.job(c2, job_id)
                self.assertEqual(pj.phase, phase)
                self.assertEqual(pj.runid, tag)
                params = self.params_of(root)
                self.assertEqual(params["model"], model)
                if kind == 1:
                    self.assertEqual(params["threshold"], "0.25")
                if kind == 2:
                    self.assertEqual(params["nms"], "0.3")
                if sha:
                    r = c2.get(f"/jobs/{job_id}/parameters/image")
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(sha256(r.body), sha, "the stored image was lost")
        self.assertEqual(list((srv2.data_dir / "tmp").iterdir()), [],
                         "temp uploads of interrupted requests were not swept")
        # And the restarted service still works.
        j = self.create(c2, [("MODEL", model), ("PHASE", "RUN")], image=image)
        self.assertEqual(self.phase(c2, j), "QUEUED")
        srv2.stop_clean()


def main():
    global OTFD
    argv = list(sys.argv)
    if "--otfd" in argv:
        i = argv.index("--otfd")
        OTFD = argv[i + 1]
        del argv[i:i + 2]
    OTFD = OTFD or os.environ.get("OTFD")
    if not OTFD or not os.access(OTFD, os.X_OK):
        print("test_uws_service.py: give the otfd binary with --otfd PATH or OTFD=PATH",
              file=sys.stderr)
        return 2
    OTFD = str(Path(OTFD).resolve())
    prog = unittest.main(argv=argv, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
