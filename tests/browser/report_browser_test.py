#!/usr/bin/env python3
"""The report in a real browser.

Syncs a few simulated days from mdesim into a SQLite store, writes the HTML report and
its JSON twin, then opens the page in headless Chromium (Debian's package) over the
DevTools protocol on a pipe (--remote-debugging-pipe: no port, no extra library) and
fails when:
  * the page makes any network request (anything but the report file itself),
  * a console error, a CSP violation or an uncaught exception is logged,
  * a chart's SVG is missing or has the wrong number of bars or points for the JSON,
  * a table's rows differ from the JSON,
  * the charts need JavaScript (they must be there with scripts disabled),
  * printing fails.
It keeps a full-page screenshot (report-screenshot.png) and the PDF print in --out-dir.

Usage: report_browser_test.py --mdesync BIN --mdesim BIN --out-dir DIR
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import base64

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, flush=True)
    return cond


# --- the simulated history ------------------------------------------------------------

def start_sim(mdesim, cache):
    proc = subprocess.Popen(
        [mdesim, "--port", "0", "--machines", "120", "--seed", "7", "--no-rate-limits",
         "--cache-dir", cache],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    info = {}
    deadline = time.time() + 120
    while time.time() < deadline and "client_secret" not in info:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("mdesim exited before it was ready")
        if line.startswith("listening on "):
            info["url"] = line.split()[-1]
        elif "=" in line:
            k, v = line.strip().split("=", 1)
            info[k] = v
    return proc, info


def run(cmd, env=None):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:2]} exited {p.returncode}: {p.stderr[-2000:]}")
    return p.stdout


def build_report(mdesync, mdesim, work):
    proc, sim = start_sim(mdesim, os.path.join(work, "sim-cache"))
    try:
        env = dict(os.environ, AZURE_CLIENT_SECRET=sim["client_secret"])
        store = "sqlite:" + os.path.join(work, "browser.db")
        sync = [mdesync, "sync", "-q", "--store", store, "--api-url", sim["url"],
                "--login-url", sim["url"], "--tenant-id", sim["tenant_id"],
                "--client-id", sim["client_id"], "--rate-limit-scale", "0"]
        run(sync + ["--mode", "full"], env)
        for _ in range(4):
            req = urllib.request.Request(sim["url"] + "/sim/advance?hours=24", data=b"",
                                         method="POST")
            urllib.request.urlopen(req, timeout=120).read()
            run(sync + ["--mode", "delta"], env)
        html = os.path.join(work, "report.html")
        common = [mdesync, "report", "--store", store, "--tenant-id", sim["tenant_id"],
                  "--days", "30"]
        run(common + ["--out", html])
        data = json.loads(run(common + ["--format", "json", "--out", "-"]))
        return html, data
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- Chromium over the DevTools protocol on a pipe ------------------------------------

class Browser:
    def __init__(self, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")

        def fds():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
             "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--mute-audio",
             f"--user-data-dir={profile}", "about:blank"],
            # The child's descriptors 3 and 4 (after fds()) are what it keeps open.
            pass_fds=(3, 4), preexec_fn=fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.read()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)
        raise RuntimeError(f"{method}: no answer in {timeout} s")

    def read(self):
        while b"\0" not in self.buf:
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def wait_event(self, method, timeout=60):
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.read()
            if m.get("method") == method:
                return m
            self.events.append(m)
        raise RuntimeError(f"no {method} in {timeout} s")

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


DOM_FACTS = r"""
(() => {
  const charts = {};
  for (const svg of document.querySelectorAll('svg[data-chart]')) {
    charts[svg.dataset.chart] = {
      bars: svg.querySelectorAll('[data-bar]').length,
      series: Array.from(svg.querySelectorAll('[data-series]')).map(
          s => [s.dataset.series, Number(s.dataset.points)]),
      label: svg.getAttribute('aria-label') || '',
    };
  }
  const tables = {};
  for (const t of document.querySelectorAll('table[data-table]')) {
    tables[t.dataset.table] = Array.from(t.querySelectorAll('tbody > tr')).map(
        tr => (tr.cells[0] ? tr.cells[0].textContent.trim() : ''));
  }
  return JSON.stringify({charts, tables, svgs: document.querySelectorAll('svg').length,
                         title: document.title});
})()
"""


def facts(browser, session):
    r = browser.send("Runtime.evaluate", {"expression": DOM_FACTS, "returnByValue": True},
                     session)
    return json.loads(r["result"]["value"])


def check_page(f, data):
    charts, tables = f["charts"], f["tables"]
    for name in ["trend-open", "trend-flow", "remediation", "ageing", "groups"]:
        check(name in charts, f"chart {name} is missing")
    days = len(data["trend"]["open"])
    if "trend-open" in charts:
        series = charts["trend-open"]["series"]
        check(len(series) >= 4, f"trend-open has {len(series)} series, expected one per severity")
        for name, points in series:
            check(points == days, f"trend-open series {name}: {points} points, JSON has {days} days")
    if "trend-flow" in charts:
        want = 3 * len(data["trend"]["flow"])
        check(charts["trend-flow"]["bars"] == want,
              f"trend-flow has {charts['trend-flow']['bars']} bars, expected {want}")
    if "remediation" in charts:
        check(charts["remediation"]["bars"] == 5,
              f"remediation has {charts['remediation']['bars']} bars, expected 5")
    if "ageing" in charts:
        check(charts["ageing"]["bars"] == 6, f"ageing has {charts['ageing']['bars']} bars")
    if "groups" in charts:
        check(charts["groups"]["bars"] == len(data["groups"]),
              f"groups chart has {charts['groups']['bars']} bars, JSON {len(data['groups'])}")
    for name, c in charts.items():
        check(c["label"] != "", f"chart {name} has no aria-label")

    expected = {
        "objects": [o["object"] for o in data["header"]["objects"]],
        "top-vulnerabilities": [v["cve"] for v in data["topVulnerabilities"]],
        "top-hosts": [h["name"] for h in data["topHosts"]],
        "groups": [g["name"] for g in data["groups"]],
        "software": [s["name"] for s in data["software"]],
        "runs": [str(r["id"]) for r in data["runs"]],
        "oldest-critical": [o["cve"] for o in data["ageing"]["oldestCritical"]],
        "remediation": [r["severity"] for r in data["remediation"]["bySeverity"]],
        "ageing-deadlines": [d["severity"] for d in data["ageing"]["deadlines"]],
        "trend-open": [d["date"] for d in data["trend"]["open"]],
        "trend-flow": [b["start"] for b in data["trend"]["flow"]],
    }
    for name, rows in expected.items():
        if not check(name in tables, f"table {name} is missing"):
            continue
        got = tables[name]
        # A cell may add words to the key (a badge, a link text): it must start with it.
        ok = len(got) == len(rows) and all(g.startswith(r) for g, r in zip(got, rows))
        check(ok, f"table {name}: rows {got[:5]}... differ from the JSON {rows[:5]}...")
    check(len(data["trend"]["open"]) >= 4, "the history is too short to test the trend")
    check(len(data["topVulnerabilities"]) == 20, "expected 20 top vulnerabilities")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mdesync", required=True)
    ap.add_argument("--mdesim", required=True)
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="mdesync-browser-")
    browser = None
    try:
        html, data = build_report(args.mdesync, args.mdesim, work)
        size = os.path.getsize(html)
        check(size < 2 * 1024 * 1024, f"report is {size} bytes")
        text = open(html, encoding="utf-8").read()
        check(re.search(r'http-equiv="Content-Security-Policy"[^>]*default-src \'none\'', text)
              is not None, "no Content-Security-Policy forbidding fetches")

        browser = Browser(os.path.join(work, "profile"))
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget",
                               {"targetId": target, "flatten": True})["sessionId"]
        for domain in ["Page", "Network", "Runtime", "Log"]:
            browser.send(f"{domain}.enable", {}, session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                     session)
        url = "file://" + os.path.abspath(html)
        browser.send("Page.navigate", {"url": url}, session)
        browser.wait_event("Page.loadEventFired")
        time.sleep(0.5)  # late console messages
        f = facts(browser, session)
        check(f["title"] != "", "the page has no title")
        check_page(f, data)

        # Sorting a table must not throw: click the first sortable header if any.
        browser.send("Runtime.evaluate", {"expression": (
            "(() => { const th = document.querySelector('table[data-table] th');"
            " if (th) th.click(); return true; })()")}, session)

        # Full-page screenshot and a print.
        metrics = browser.send("Page.getLayoutMetrics", {}, session)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = browser.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1280, "height": min(size["height"], 16000),
                     "scale": 1}}, session)
        with open(os.path.join(args.out_dir, "report-screenshot.png"), "wb") as out:
            out.write(base64.b64decode(shot["data"]))
        pdf = browser.send("Page.printToPDF", {"printBackground": True}, session)
        pdf_bytes = base64.b64decode(pdf["data"])
        check(pdf_bytes.startswith(b"%PDF") and len(pdf_bytes) > 10000, "printing failed")
        with open(os.path.join(args.out_dir, "report.pdf"), "wb") as out:
            out.write(pdf_bytes)

        # Without JavaScript the charts and tables are all there.
        browser.send("Emulation.setScriptExecutionDisabled", {"value": True}, session)
        browser.send("Page.reload", {}, session)
        browser.wait_event("Page.loadEventFired")
        browser.send("Emulation.setScriptExecutionDisabled", {"value": False}, session)
        f2 = facts(browser, session)
        check(f2["svgs"] == f["svgs"] and f2["tables"] == f["tables"],
              "without JavaScript the page lacks charts or table rows")

        # What the page did: requests and console messages.
        for e in browser.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Network.requestWillBeSent":
                req = p["request"]["url"]
                check(req == url, f"network request: {req}")
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                check(False, f"console error: {json.dumps(p.get('args'))[:300]}")
            elif m == "Runtime.exceptionThrown":
                check(False, f"exception: {json.dumps(p)[:300]}")
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                check(False, f"log error: {p['entry'].get('text', '')[:300]}")
    finally:
        if browser:
            browser.close()
        shutil.rmtree(work, ignore_errors=True)

    passed = 0 if FAILURES else 1
    print(f"{passed} passed, {1 - passed} failed")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
