"""mdesim for the scale benchmark: build, binaries, one simulator process, its truth and stats."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from .measure import log

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SIM_START_TIMEOUT_S = 900


def build(build_dir, jobs):
    if not os.path.exists(os.path.join(build_dir, "build.ninja")) and not os.path.exists(
            os.path.join(build_dir, "Makefile")):
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        subprocess.run(["cmake", "-S", REPO, "-B", build_dir, *gen,
                        "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DMDESYNC_BUILD_BENCH=ON"],
                       check=True, stdout=sys.stderr)
    subprocess.run(["cmake", "--build", build_dir, "--target", "mdesync", "mdesim",
                    f"-j{jobs}"], check=True, stdout=sys.stderr)


def binaries(build_dir):
    sync = os.path.join(build_dir, "src", "cli", "mdesync")
    sim = os.path.join(build_dir, "sim", "mdesim")
    for b in (sync, sim):
        if not os.access(b, os.X_OK):
            sys.exit(f"missing binary {b} (build first or pass --build-dir)")
    return sync, sim


# --------------------------------------------------------------------------- simulator

class Sim:
    """One mdesim process on 127.0.0.1 with a random port."""

    def __init__(self, exe, machines, spm, cves, seed, cache_dir, rows_per_file, log_path,
                 rate_limits=True):
        self.args = [exe, "--host", "127.0.0.1", "--port", "0", "--machines", str(machines),
                     "--software-per-machine", str(spm), "--cves", str(cves),
                     "--vulnerable-share", "0.3", "--device-groups", "8", "--seed", str(seed),
                     "--cache-dir", cache_dir, "--rows-per-file", str(rows_per_file)]
        if not rate_limits:
            self.args.append("--no-rate-limits")
        self.machines = machines
        self.log_path = log_path
        self.proc = None
        self.url = None
        self.creds = {}
        self.generation_s = None
        self.cache_was_warm = None
        self.cache_dir = cache_dir

    def start(self):
        os.makedirs(self.cache_dir, exist_ok=True)
        before = set(os.listdir(self.cache_dir))
        self.err = open(self.log_path, "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True, start_new_session=True)
        lines = []
        done = threading.Event()

        def reader():
            for line in self.proc.stdout:
                lines.append(line.strip())
                if sum(1 for l in lines if "=" in l) >= 3 and any(
                        l.startswith("listening on") for l in lines):
                    break
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        if not done.wait(SIM_START_TIMEOUT_S) or self.proc.poll() is not None:
            self.stop()
            sys.exit(f"mdesim did not start (see {self.log_path}): {lines}")
        self.generation_s = time.monotonic() - t0
        # The cache holds one w<hash> directory per world; a new one means a cold start.
        self.cache_was_warm = not (set(os.listdir(self.cache_dir)) - before)
        for l in lines:
            if l.startswith("listening on"):
                self.url = l.split()[-1]
            elif "=" in l:
                k, v = l.split("=", 1)
                self.creds[k] = v
        if not self.url or not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            sys.exit(f"unexpected mdesim address {self.url!r}")
        # Drain stdout so the simulator never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        return self

    def _req(self, method, path, body=None):
        data = None
        headers = {}
        if method == "POST":
            data = json.dumps(body).encode() if body is not None else b""
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read() or b"null")

    def truth(self):
        return self._req("GET", "/sim/truth?keys=false")

    def stats(self):
        return self._req("GET", "/sim/stats")

    def reset_stats(self):
        return self._req("POST", "/sim/stats/reset")

    def advance(self, hours):
        return self._req("POST", f"/sim/advance?hours={hours}")

    def rate_limits(self, enabled, scale):
        return self._req("POST", "/sim/ratelimits", {"enabled": enabled, "scale": scale})

    def peak_rss_mb(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return None

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


def sim_summary(stats):
    """Server-side view: calls per simulator endpoint name and 429s."""
    by_ep = {}
    throttled = 0
    for name, e in (stats or {}).get("endpoints", {}).items():
        by_ep[name] = e.get("total", 0)
        throttled += e.get("byStatus", {}).get("429", 0)
    return {"total": (stats or {}).get("total", sum(by_ep.values())), "byEndpoint": by_ep,
            "throttled": throttled}



def tenant_info(sim):
    tr = sim.truth()
    return {"machines": sim.machines, "machineRows": tr.get("machines"),
            "vulnerabilityRows": (tr.get("openFindings") or 0) + (tr.get("nullCveRows") or 0),
            "openFindings": tr.get("openFindings"), "nullCveRows": tr.get("nullCveRows"),
            "installedSoftware": tr.get("installedSoftware"), "software": tr.get("software"),
            "definitions": tr.get("definitions"), "recommendations": tr.get("recommendations"),
            "generationSeconds": round(sim.generation_s, 2), "cacheWarm": sim.cache_was_warm}

