"""One measured mdesync run and its run summary (--json)."""

import json
import os
import subprocess
import time

from .measure import loadavg, log, wait4_bounded
from .sim import sim_summary

RUN_TIMEOUT_S = 3600 * 3  # hard bound on any single mdesync run


def store_url(db):
    """A SQLite file path, or a postgresql:// URL as is (bench/scale/run --store)."""
    return db if db.startswith(("postgresql:", "postgres:")) else f"sqlite:{db}"


def run_sync(exe, sim, db, mode, strategy, label, work, extra=()):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MDESYNC_", "AZURE_"))}
    env["AZURE_CLIENT_SECRET"] = sim.creds["client_secret"]
    cmd = [exe, "sync", "--api-url", sim.url, "--login-url", sim.url,
           "--tenant-id", sim.creds["tenant_id"], "--client-id", sim.creds["client_id"],
           "--store", store_url(db), "--mode", mode, "--strategy", strategy, "--json", "-q",
           *extra]
    out_path = os.path.join(work, f"{label}.json")
    err_path = os.path.join(work, f"{label}.log")
    sim.reset_stats()
    log(f"{label}: mdesync sync --mode {mode} --strategy {strategy} {' '.join(extra)}")
    load_before = loadavg()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        status, ru = wait4_bounded(p, RUN_TIMEOUT_S)
        wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status) if status is not None else None
    sched = getattr(p, "sched", {})
    main_tid = str(p.pid)
    with open(out_path, encoding="utf-8", errors="replace") as f:
        text = f.read().strip()
    try:
        summary = json.loads(text.splitlines()[-1]) if text else {}
    except json.JSONDecodeError:
        summary = {}
    server = sim_summary(sim.stats())
    r = {
        "label": label, "mode": mode, "strategy": strategy, "machines": sim.machines,
        "exitCode": code, "outcome": summary.get("outcome", "no summary"),
        "wallSeconds": round(wall, 3),
        "cpuSeconds": round(ru.ru_utime + ru.ru_stime, 3) if ru else None,
        "userSeconds": round(ru.ru_utime, 3) if ru else None,
        "sysSeconds": round(ru.ru_stime, 3) if ru else None,
        "peakRssMB": round(ru.ru_maxrss / 1024.0, 1) if ru else None,  # Linux: KiB
        "blocksWrittenMB": round(ru.ru_oublock * 512 / 1e6, 1) if ru else None,
        "involuntaryContextSwitches": ru.ru_nivcsw if ru else None,
        # Other processes on the machine make wall time longer than CPU time: recorded so
        # that a slow run on a busy machine can be told from a slow program.
        "loadAverage1mBefore": load_before, "loadAverage1mAfter": loadavg(),
        # Sampled every 20 ms: time runnable but waiting for a CPU (machine busy), all
        # threads and the main (map + store) thread.
        "runQueueWaitSeconds": round(sum(w for _, w in sched.values()) / 1e9, 2),
        "mainThreadCpuSeconds": round(sched.get(main_tid, (0, 0))[0] / 1e9, 2),
        "mainThreadRunQueueWaitSeconds": round(sched.get(main_tid, (0, 0))[1] / 1e9, 2),
        "summarySeconds": summary.get("seconds"),
        "httpCalls": summary.get("httpCalls"),
        "tokenRequests": summary.get("tokenRequests"),
        "dbBytes": sum(os.path.getsize(db + s) for s in ("", "-wal")
                       if os.path.exists(db + s)),
        "server": server,
        "log": err_path,
    }
    objects, calls, t = object_stats(summary)
    r["objects"] = objects
    r["callsByEndpoint"] = calls
    r["throttled"] = sum(o["throttled"] for o in objects)
    r["retries"] = sum(o["retries"] for o in objects)
    r["bytesDownloaded"] = sum(o["bytesDownloaded"] for o in objects)
    r["timeBreakdown"] = {k: round(v, 3) for k, v in t.items()}
    r["rowsRead"] = sum(o["read"] for o in objects)
    log(f"{label}: {r['outcome']} exit {code} in {wall:.1f} s wall, {r['cpuSeconds']} s CPU, "
        f"{r['peakRssMB']} MB peak, {r['httpCalls']} calls, {r['throttled']} 429s "
        f"(server saw {server['throttled']})")
    if r["outcome"] != "success":
        log(f"{label}: see {err_path} and {out_path}")
    return r


def object_stats(summary):
    """Per-object rows, calls and time breakdown of a run summary, and the totals."""
    objects = []
    calls = {}
    t = {"download": 0.0, "decode": 0.0, "map": 0.0, "store": 0.0}
    for o in summary.get("objects", []):
        secs = o.get("seconds") or 0.0
        objects.append({
            "object": o.get("object"), "mode": o.get("mode"), "outcome": o.get("outcome"),
            "error": o.get("error") or "", "read": o.get("read", 0),
            "written": o.get("written", 0), "unchanged": o.get("unchanged", 0),
            "closed": o.get("closed", 0), "skipped": o.get("skipped", 0),
            "merged": o.get("merged", 0), "stale": o.get("stale", 0),
            "paired": o.get("paired", 0), "reused": o.get("reused", 0),
            "reusedWithoutRow": o.get("reusedWithoutRow", 0),
            "seconds": round(secs, 3),
            "rowsPerSecond": round(o.get("read", 0) / secs) if secs > 0 else None,
            "httpCalls": o.get("httpCalls", 0), "callsByEndpoint": o.get("callsByEndpoint", {}),
            "retries": o.get("retries", 0), "throttled": o.get("throttled", 0),
            "bytesDownloaded": o.get("bytesDownloaded", 0),
            "downloadSeconds": round(o.get("downloadSeconds", 0.0), 3),
            "decodeSeconds": round(o.get("decodeSeconds", 0.0), 3),
            "mapSeconds": round(o.get("mapSeconds", 0.0), 3),
            "storeSeconds": round(o.get("storeSeconds", 0.0), 3),
        })
        for ep, n in (o.get("callsByEndpoint") or {}).items():
            calls[ep] = calls.get(ep, 0) + n
        for k in t:
            t[k] += o.get(k + "Seconds", 0.0)
    calls["token"] = summary.get("tokenRequests", 0)
    api_calls = sum(v for k, v in calls.items() if k != "token")
    if summary.get("httpCalls") is not None:
        downloads = summary["httpCalls"] - calls["token"] - api_calls
        if downloads:
            calls["downloads"] = downloads
    return objects, calls, t
