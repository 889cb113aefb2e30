#!/usr/bin/env python3
"""otf-gui end to end under Xvfb, driven with xdotool (keyboard shortcuts and the file chooser),
against the real otfd of this build on loopback with the tiny fixture model:

1. open the SDC1 cutout through Ctrl+O and the file chooser's location entry, submit it
   (Ctrl+Enter), wait for the job; the number of rows of the GUI's catalogue table (the table's
   own list model, reported through --status-file) must equal the rows of the catalogue the
   server serves; a screenshot of the screen with the overlay is kept in the build folder;
2. a server answering 503 + Retry-After, a server that never answers, and a server that went
   away: the window keeps handling input (Ctrl+T changes the stretch at once) and the condition
   shows in the window's network status.

Exit 77 (skip) when Xvfb, xdotool or ImageMagick's import is missing.
usage: test_gui.py --gui BIN --otfd BIN --source DIR --out DIR
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def read_state(path):
    try:
        with open(path) as f:
            return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    except FileNotFoundError:
        return {}


def wait_state(path, pred, timeout):
    end = time.time() + timeout
    st = {}
    while time.time() < end:
        st = read_state(path)
        if pred(st):
            return st
        time.sleep(0.2)
    return st


class Xvfb:
    def __init__(self):
        r, w = os.pipe()
        self.p = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1600x1000x24",
                                   "-nolisten", "tcp"], pass_fds=(w,), stderr=subprocess.DEVNULL)
        os.close(w)
        num = b""
        while not num.endswith(b"\n"):
            c = os.read(r, 1)
            if not c:
                raise RuntimeError("Xvfb did not start")
            num += c
        os.close(r)
        self.display = ":" + num.decode().strip()

    def stop(self):
        self.p.terminate()
        self.p.wait()


class Gui:
    def __init__(self, binary, env, tmp, name, args):
        self.state = os.path.join(tmp, name + ".state")
        self.log = open(os.path.join(tmp, name + ".log"), "w")
        self.env = env
        self.p = subprocess.Popen([binary, "--status-file", self.state] + args, env=env,
                                  stdout=self.log, stderr=subprocess.STDOUT)
        st = wait_state(self.state, lambda s: "stretch" in s, 30)
        check("stretch" in st, name + ": window up")
        self.win = None
        end = time.time() + 10
        while time.time() < end and not self.win:
            out = subprocess.run(["xdotool", "search", "--pid", str(self.p.pid), "--name",
                                  "otf-gui"], env=env, capture_output=True, text=True).stdout
            self.win = out.split()[0] if out.split() else None
            time.sleep(0.2)
        # no window manager on Xvfb: put the pointer over the window to give it the keyboard
        self.xdo("mousemove", "--window", self.win, "300", "300")
        time.sleep(0.3)

    def xdo(self, *args):
        subprocess.run(["xdotool"] + list(args), env=self.env, check=False)

    def key(self, *keys):
        self.xdo("key", "--delay", "50", *keys)

    def responsive(self, what):
        """Ctrl+T cycles the stretch: the main loop must react within 2 s."""
        before = read_state(self.state).get("stretch")
        self.key("ctrl+t")
        st = wait_state(self.state, lambda s: s.get("stretch") not in (None, before), 2.0)
        check(st.get("stretch") not in (None, before),
              "%s: window responsive (stretch %s -> %s)" % (what, before, st.get("stretch")))

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def start_otfd(otfd, tmp, models):
    ready = os.path.join(tmp, "otfd.ready")
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    log = open(os.path.join(tmp, "otfd.log"), "w")
    p = subprocess.Popen([otfd, "--listen", "127.0.0.1:0", "--data", data, "--models", models,
                          "--ready-file", ready, "--workers", "1"], stdout=log,
                         stderr=subprocess.STDOUT)
    end = time.time() + 60
    while time.time() < end and not os.path.exists(ready):
        if p.poll() is not None:
            raise RuntimeError("otfd exited: see " + log.name)
        time.sleep(0.1)
    with open(ready) as f:
        return p, f.read().strip()


def votable_rows(data):
    root = ET.fromstring(data)
    return sum(1 for el in root.iter() if el.tag.endswith("}TR") or el.tag == "TR")


MODELS_JSON = b""  # the real server's GET /models answer, replayed by the mute server


class Mute(BaseHTTPRequestHandler):
    """Answers GET /models at once; every other request is read and never answered."""

    def do_GET(self):
        if self.path.startswith("/models"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(MODELS_JSON)))
            self.end_headers()
            self.wfile.write(MODELS_JSON)
            return
        time.sleep(3600)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        while n > 0:
            n -= len(self.rfile.read(min(n, 65536)))
        time.sleep(3600)

    def log_message(self, *a):
        pass


class Busy(BaseHTTPRequestHandler):
    """Every request: 503 with Retry-After and a DALI-style JSON error."""

    def answer(self):
        body = b'{"error": "queue full", "status": 503}'
        if self.command == "POST":
            n = int(self.headers.get("Content-Length") or 0)
            while n > 0:
                n -= len(self.rfile.read(min(n, 65536)))
        self.send_response(503)
        self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = answer

    def log_message(self, *a):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gui", required=True)
    ap.add_argument("--otfd", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    for tool in ("Xvfb", "xdotool", "import"):
        if not shutil.which(tool):
            print("skip: %s not installed" % tool)
            return 77

    image = os.path.join(a.source, "tests/data/real/B1_1000h_0.05tr.fits")
    tmp = tempfile.mkdtemp(prefix="otf-gui-test-")
    models = os.path.join(tmp, "models")
    os.makedirs(models)
    shutil.copytree(os.path.join(a.source, "tests/data/models/tiny"),
                    os.path.join(models, "tiny"))
    xvfb = Xvfb()
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    env = dict(os.environ, DISPLAY=xvfb.display, HOME=home,
               XDG_CONFIG_HOME=os.path.join(home, ".config"),
               XDG_CACHE_HOME=os.path.join(home, ".cache"), GDK_BACKEND="x11",
               NO_AT_BRIDGE="1", GSK_RENDERER="cairo", GTK_A11Y="none")
    env.pop("OTF_URL", None)
    env.pop("OTF_TOKEN", None)
    otfd, url = start_otfd(a.otfd, tmp, models)
    guis = []
    busy = None
    try:
        # ---- 1: open, submit, wait, compare the table with the served catalogue ----
        g = Gui(a.gui, env, tmp, "main", ["--url", url])
        guis.append(g)
        wait_state(g.state, lambda s: s.get("models") == "1", 20)
        g.key("ctrl+o")
        time.sleep(1.5)
        g.key("ctrl+l")
        time.sleep(0.5)
        g.xdo("type", "--delay", "5", image)
        g.key("Return")
        st = wait_state(g.state, lambda s: s.get("image_size") == "174x160", 30)
        check(st.get("image") == image, "image opened through the file chooser")
        check(st.get("image_size") == "174x160", "image size 174x160")
        g.key("ctrl+Return")
        st = wait_state(g.state, lambda s: s.get("phase") in ("COMPLETED", "ERROR", "ABORTED")
                        and s.get("catalog", "").startswith("job "), 180)
        check(st.get("phase") == "COMPLETED", "job completed (%s)" % st.get("status"))
        job = st.get("job", "")
        rows = int(st.get("rows", "-1"))
        with urllib.request.urlopen("%s/jobs/%s/results/catalog" % (url, job), timeout=30) as r:
            served = votable_rows(r.read())
        check(served > 0, "the served catalogue has rows (%d)" % served)
        check(rows == served, "table rows %d == catalogue rows %d" % (rows, served))
        time.sleep(0.5)
        shot = os.path.join(a.out, "gui_e2e.png")
        subprocess.run(["import", "-window", "root", shot], env=env, check=False)
        check(os.path.exists(shot) and os.path.getsize(shot) > 10000,
              "screenshot saved to " + shot)
        # the saved settings remember the server
        ini = os.path.join(home, ".config", "otf", "gui.ini")
        check(os.path.exists(ini) and url in open(ini).read(), "settings remember the URL")
        g.responsive("idle")

        global MODELS_JSON
        req = urllib.request.Request(url + "/models", headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            MODELS_JSON = r.read()

        # ---- 2a: server gone: the job list poll reports it, the window keeps going ----
        otfd.send_signal(signal.SIGTERM)
        otfd.wait(30)
        st = wait_state(g.state, lambda s: "not reachable" in s.get("net", ""), 15)
        check("not reachable" in st.get("net", ""), "server gone shown: " + st.get("net", ""))
        g.responsive("server gone")
        g.stop()

        # ---- 2b: 503 + Retry-After on every request ----
        busy = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
        threading.Thread(target=busy.serve_forever, daemon=True).start()
        burl = "http://127.0.0.1:%d" % busy.server_address[1]
        g = Gui(a.gui, env, tmp, "busy", ["--url", burl, "--models", models, image])
        guis.append(g)
        wait_state(g.state, lambda s: s.get("image_size") == "174x160", 30)
        st = wait_state(g.state, lambda s: "busy" in s.get("net", ""), 15)
        check("busy" in st.get("net", ""), "503 shown: " + st.get("net", ""))
        # a local model is offered even when the server is busy
        check(st.get("models") == "1", "local model listed without a server")
        g.responsive("503")
        g.stop()

        # ---- 2c: a server that accepts connections and never answers ----
        mute = ThreadingHTTPServer(("127.0.0.1", 0), Mute)
        mute.daemon_threads = True
        threading.Thread(target=mute.serve_forever, daemon=True).start()
        murl = "http://127.0.0.1:%d" % mute.server_address[1]
        g = Gui(a.gui, env, tmp, "mute", ["--url", murl, image])
        guis.append(g)
        wait_state(g.state, lambda s: s.get("image_size") == "174x160" and s.get("models") == "1",
                   30)
        g.key("ctrl+Return")
        time.sleep(1)
        g.responsive("request hanging")
        st = wait_state(g.state, lambda s: "not answering" in s.get("net", ""), 40)
        check("not answering" in st.get("net", ""), "no answer shown: " + st.get("net", ""))
        g.responsive("after the timeout")
        # the upload went through and the answer never comes: the user cancels
        check(read_state(g.state).get("phase") == "SUBMITTING", "submission still in flight")
        g.key("ctrl+period")
        st = wait_state(g.state, lambda s: s.get("phase") == "ABORTED", 10)
        check(st.get("phase") == "ABORTED", "submission to a mute server cancelled")
        g.responsive("after the cancel")
        mute.shutdown()
    finally:
        for g in guis:
            g.stop()
        if busy:
            busy.shutdown()
        if otfd.poll() is None:
            otfd.terminate()
            otfd.wait()
        xvfb.stop()
        if not FAILS:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("logs kept in " + tmp)
    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
