"""Targets of issue 8, the wall time at the real quotas, the markdown report and --compare."""

# Targets of issue 8.
FULL_WALL_MAX_S = 30.0
DELTA_WALL_MAX_S = 3.0
RSS_MAX_MB = 256.0
RSS_RATIO_MAX = 1.3
FULL_CALLS_MAX = 25

# docs/api.md, "Limits": (per minute, per hour).  Endpoints whose limit is not
# documented get 100/min, 1,500/h (the assumption of docs/api.md, also the simulator's default).
# Keys: the client's rate-limit families (callsByEndpoint of the run summary).
QUOTAS = {
    "machines": (100, 1500),
    "machine_vulnerabilities": (50, 1500),
    "SoftwareVulnerabilitiesByMachine": (30, 1000),
    "SoftwareVulnerabilityChangesByMachine": (30, 1000),
    "SoftwareInventoryByMachine": (30, 1000),
    "SoftwareInventoryNoProductCodeByMachine": (30, 1000),
    "SoftwareVulnerabilitiesExport": (5, 20),
    "SoftwareInventoryExport": (5, 20),
    "SoftwareInventoryNonCpeExport": (5, 20),
}
DEFAULT_QUOTA = (100, 1500)
UNLIMITED = {"token", "download", "downloads"}


# --------------------------------------------------------------------------- quotas

def time_at_quota(n, per_min, per_hour):
    """Earliest time (s) of the last of n calls under sliding 60 s / 3600 s windows,
    the first call at 0 and calls as early as allowed."""
    if n <= 0:
        return 0.0
    t = [0.0] * n
    for k in range(1, n):
        v = t[k - 1]
        if per_min > 0 and k >= per_min:
            v = max(v, t[k - per_min] + 60.0)
        if per_hour > 0 and k >= per_hour:
            v = max(v, t[k - per_hour] + 3600.0)
        t[k] = v
    return t[-1]


def quota_estimate(calls_by_endpoint):
    rows = []
    for ep, n in sorted(calls_by_endpoint.items()):
        if ep in UNLIMITED:
            q = (0, 0)
        else:
            q = QUOTAS.get(ep, DEFAULT_QUOTA)
        rows.append({"endpoint": ep, "calls": n, "perMinute": q[0], "perHour": q[1],
                     "seconds": round(time_at_quota(n, *q), 1)})
    serial = sum(r["seconds"] for r in rows)
    longest = max((r["seconds"] for r in rows), default=0.0)
    return {"endpoints": rows, "serialSeconds": round(serial, 1),
            "longestEndpointSeconds": round(longest, 1)}


# --------------------------------------------------------------------------- targets

def targets(runs):
    out = []

    def add(name, value, limit, ok, note=""):
        out.append({"target": name, "value": value, "limit": limit,
                    "result": "PASS" if ok else ("FAIL" if ok is not None else "N/A"),
                    "note": note})

    full, delta, small = runs.get("full"), runs.get("delta"), runs.get("full_tenth")
    size = f"{full['machines']:,}" if full else "?"
    if full:
        ok = full["outcome"] == "success"
        add(f"full sync {size} machines, all objects, export: wall time", f"{full['wallSeconds']:.1f} s",
            f"< {FULL_WALL_MAX_S:g} s", ok and full["wallSeconds"] < FULL_WALL_MAX_S,
            "" if ok else f"outcome {full['outcome']}")
    if delta:
        ok = delta["outcome"] == "success"
        add("delta sync after one 6-hour step: wall time", f"{delta['wallSeconds']:.2f} s",
            f"< {DELTA_WALL_MAX_S:g} s", ok and delta["wallSeconds"] < DELTA_WALL_MAX_S,
            "" if ok else f"outcome {delta['outcome']}")
    export_runs = [r for k, r in runs.items() if k != "api"]
    if export_runs:
        w = max(export_runs, key=lambda r: r["peakRssMB"] or 0)
        add("peak RSS of mdesync (full, delta, one-tenth)", f"{w['peakRssMB']:.0f} MB "
            f"({w['label']})", f"< {RSS_MAX_MB:g} MB", (w["peakRssMB"] or 0) < RSS_MAX_MB)
    if runs.get("api"):
        add("peak RSS of mdesync (api strategy)", f"{runs['api']['peakRssMB']:.0f} MB",
            f"< {RSS_MAX_MB:g} MB", (runs["api"]["peakRssMB"] or 0) < RSS_MAX_MB)
    if full and small:
        ratio = full["peakRssMB"] / small["peakRssMB"] if small["peakRssMB"] else float("inf")
        add("peak RSS full-size / one-tenth", f"{ratio:.2f}x ({full['peakRssMB']:.0f} / "
            f"{small['peakRssMB']:.0f} MB)", f"<= {RSS_RATIO_MAX:g}x", ratio <= RSS_RATIO_MAX)
    else:
        add("peak RSS full-size / one-tenth", "-", f"<= {RSS_RATIO_MAX:g}x", None,
            "one-tenth run skipped")
    if full:
        calls = full["httpCalls"] if full["httpCalls"] is not None else 10**9
        add(f"HTTP calls, full sync {size} machines (token, listings, exports, files)",
            f"{full['httpCalls']} = {full['httpCalls'] - full['callsByEndpoint'].get('downloads', 0)}"
            f" token/API + {full['callsByEndpoint'].get('downloads', 0)} file downloads "
            f"(server saw {full['server']['total']})",
            f"<= {FULL_CALLS_MAX}", calls <= FULL_CALLS_MAX,
            f"export files of {full.get('rowsPerFile', '?')} rows")
    main = [r for k, r in runs.items() if k != "api"]
    n429 = sum(r["throttled"] for r in main)
    s429 = sum(r["server"]["throttled"] for r in main)
    add("429s received (full, delta, one-tenth; rate limits on at documented quotas)",
        f"{n429} (server sent {s429})", "0", n429 == 0 and s429 == 0)
    api = runs.get("api")
    if api:
        ok = api["outcome"] == "success" and api["throttled"] == 0 and \
            api["server"]["throttled"] == 0
        q = api["quotaEstimate"]
        add(f"api strategy {size} machines completes within the rate limits",
            f"{api['outcome']}, {api['httpCalls']} calls, {api['throttled']} 429s; "
            f"at real quotas ~{fmt_dur(q['serialSeconds'])}",
            "success, 0 429s", ok,
            f"ran with quotas x{api['rateLimitScale']:g} (simulator and client)")
    else:
        add(f"api strategy {size} machines completes within the rate limits", "-", "success, 0 429s", None,
            "not run (use --with-api)")
    return out


def fmt_dur(s):
    if s is None:
        return "-"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


# --------------------------------------------------------------------------- report

def markdown(res):
    L = []
    L.append(f"# Scale benchmark ({res['startedAt']})\n")
    L.append(f"`{res['command']}` on {res['host']['cpus']} CPUs, commit {res['commit']}\n")
    L.append("## Tenants\n")
    L.append("| tenant | machines | vulnerability rows | installed software rows | software | "
             "definitions | generation | simulator peak RSS |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, t in res["tenants"].items():
        L.append(f"| {name} | {t['machines']} | {t['vulnerabilityRows']} | "
                 f"{t['installedSoftware']} | {t['software']} | {t['definitions']} | "
                 f"{t['generationSeconds']:.1f} s ({'warm' if t['cacheWarm'] else 'cold'} "
                 f"cache) | {t['simPeakRssMB'] or 0:.0f} MB |")
    L.append("\n## Targets\n")
    L.append("| target | value | limit | result |")
    L.append("|---|---|---|---|")
    for t in res["targets"]:
        note = f" ({t['note']})" if t["note"] else ""
        L.append(f"| {t['target']} | {t['value']} | {t['limit']} | **{t['result']}**{note} |")
    L.append("\n## Runs\n")
    L.append("| run | outcome | wall | CPU (user+sys) | peak RSS | HTTP calls | 429s | "
             "retries | downloaded | rows read | download | decode | map | store | "
             "disk written | waiting for a CPU | load avg before/after |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in res["runs"].values():
        b = r["timeBreakdown"]
        L.append(f"| {r['label']} | {r['outcome']} | {r['wallSeconds']:.2f} s | "
                 f"{r['cpuSeconds']:.2f} s | {r['peakRssMB']:.0f} MB | {r['httpCalls']} | "
                 f"{r['throttled']} | {r['retries']} | {r['bytesDownloaded'] / 1e6:.1f} MB | "
                 f"{r['rowsRead']} | {b['download']:.2f} s | {b['decode']:.2f} s | "
                 f"{b['map']:.2f} s | {b['store']:.2f} s | {r['blocksWrittenMB']} MB | "
                 f"{r['runQueueWaitSeconds']} s | {r['loadAverage1mBefore']} / {r['loadAverage1mAfter']} |")
    L.append("\nThe breakdown columns are the run summary's own counters summed over objects "
             "(download and decode run on worker threads and overlap each other and the "
             "map/store thread, so they need not add up to the wall time). 'Waiting for a CPU' is "
             "the time the process's threads were runnable but not running (other processes "
             "on the machine); a high value means the wall time is inflated by the machine, "
             "not the program.\n")
    for r in res["runs"].values():
        L.append(f"### {r['label']} ({r['mode']}, {r['strategy']}, {r['machines']} machines)\n")
        L.append("| object | outcome | read | written | unchanged | closed | skipped | seconds | "
                 "rows/s | calls | 429s | downloaded | download s | decode s | map s | store s |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for o in r["objects"]:
            L.append(f"| {o['object']} | {o['outcome']} | {o['read']} | {o['written']} | "
                     f"{o['unchanged']} | {o['closed']} | {o['skipped']} | {o['seconds']:.2f} | "
                     f"{o['rowsPerSecond'] if o['rowsPerSecond'] is not None else '-'} | "
                     f"{o['httpCalls']} | {o['throttled']} | "
                     f"{o['bytesDownloaded'] / 1e6:.1f} MB | {o['downloadSeconds']:.2f} | "
                     f"{o['decodeSeconds']:.2f} | {o['mapSeconds']:.2f} | "
                     f"{o['storeSeconds']:.2f} |")
        calls = ", ".join(f"{k} {v}" for k, v in sorted(r["callsByEndpoint"].items()))
        srv = ", ".join(f"{k} {v}" for k, v in sorted(r["server"]["byEndpoint"].items()))
        L.append(f"\nHTTP calls by endpoint (client): {calls}  ")
        L.append(f"Simulator saw: {srv}\n")
        if r.get("truthMismatches"):
            L.append(f"Rows read differ from the simulator's truth: {r['truthMismatches']}\n")
        elif "truthMismatches" in r:
            L.append("Rows read per object equal the simulator's truth.\n")
        for o in r["objects"]:
            if o["error"]:
                L.append(f"- {o['object']}: {o['error']}")
        if "quotaEstimate" in r:
            q = r["quotaEstimate"]
            L.append("Wall time at the real (documented) quotas, from the call counts "
                     "(sliding minute and hour windows; undocumented limits at 100/min, "
                     "1,500/h):\n")
            L.append("| endpoint family | calls | quota | time at quota |")
            L.append("|---|---:|---|---:|")
            for e in q["endpoints"]:
                quota = "none" if not e["perMinute"] else f"{e['perMinute']}/min, " \
                                                         f"{e['perHour']}/h"
                L.append(f"| {e['endpoint']} | {e['calls']} | {quota} | "
                         f"{fmt_dur(e['seconds'])} |")
            L.append(f"\nTotal, objects one after another: ~{fmt_dur(q['serialSeconds'])} "
                     f"(the slowest endpoint alone: {fmt_dur(q['longestEndpointSeconds'])}).\n")
    return "\n".join(L) + "\n"


METRICS = [("wallSeconds", "wall s"), ("cpuSeconds", "CPU s"), ("peakRssMB", "peak RSS MB"),
           ("httpCalls", "HTTP calls"), ("throttled", "429s"), ("bytesDownloaded", "bytes"),
           ("rowsRead", "rows read")]


def compare(prev, cur):
    lines = [f"Comparison with {prev.get('startedAt', '?')} (commit {prev.get('commit', '?')}):"]

    def pct(a, b):
        if a in (None, 0) or b is None:
            return ""
        return f" ({(b - a) / a * 100:+.1f}%)"

    for label, r in cur["runs"].items():
        p = prev.get("runs", {}).get(label)
        if not p:
            lines.append(f"  {label}: new run")
            continue
        parts = []
        for key, name in METRICS:
            a, b = p.get(key), r.get(key)
            if a != b:
                parts.append(f"{name} {a} -> {b}{pct(a, b)}")
        for k in ("download", "decode", "map", "store"):
            a, b = p.get("timeBreakdown", {}).get(k), r["timeBreakdown"].get(k)
            if a is not None and b is not None and abs(a - b) >= 0.01:
                parts.append(f"{k} s {a} -> {b}{pct(a, b)}")
        pobj = {o["object"]: o for o in p.get("objects", [])}
        for o in r["objects"]:
            po = pobj.get(o["object"])
            if po and po.get("rowsPerSecond") and o.get("rowsPerSecond") and \
                    po["rowsPerSecond"] != o["rowsPerSecond"]:
                parts.append(f"{o['object']} rows/s {po['rowsPerSecond']} -> "
                             f"{o['rowsPerSecond']}{pct(po['rowsPerSecond'], o['rowsPerSecond'])}")
        lines.append(f"  {label}: " + ("; ".join(parts) if parts else "no change"))
    ptg = {t["target"]: t for t in prev.get("targets", [])}
    for t in cur["targets"]:
        p = ptg.get(t["target"])
        if p and p["result"] != t["result"]:
            lines.append(f"  target '{t['target']}': {p['result']} -> {t['result']}")
    return "\n".join(lines)


