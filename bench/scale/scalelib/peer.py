"""--vs-peer (issue 16): mdesync against the Python peer and the `limit` floor.

On the full-size tenant with rate limits off on both sides (mdesim --no-rate-limits,
mdesync --rate-limit-scale 0; pysync has no limiter), the two programs alternate
A B A B ... for --rounds rounds.  Each round: mdesync's first full sync into a fresh store
and a repeat full sync onto it, then the same for pysync, then `limit` (inflate + simdjson
+ SQLite, built from the peers' sources into a work folder) on the export files downloaded
once from the same simulator.  Medians of the rounds are reported.
"""

import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

from .measure import log, run_measured
from .sim import Sim
from .sync import run_sync

# The peer yardsticks (pysync.py and limit/) are kept outside the repository: their
# folder comes from --peer-dir or the MDESYNC_PEER_DIR environment variable.
PEER_DIR_ENV = "MDESYNC_PEER_DIR"
PEER_TIMEOUT_S = 1800      # one pysync run
LIMIT_TIMEOUT_S = 600      # one limit run

# Targets of issue 16.
FIRST_FULL_SPEEDUP_MIN, FIRST_FULL_SPEEDUP_STRETCH = 3.0, 4.0
REPEAT_FULL_SPEEDUP_MIN, REPEAT_FULL_SPEEDUP_STRETCH = 10.0, 15.0
EXPORT_VS_LIMIT_MAX = 2.0
BYTES_PER_FINDING_MAX = 250.0
EXPORT_OBJECTS = ("vulnerability", "installed_package")


def add_arguments(ap):
    g = ap.add_argument_group("vs peer (issue 16)")
    g.add_argument("--vs-peer", action="store_true",
                   help="also compare with the Python peer and the limit floor "
                        "(full-size tenant, rate limits off)")
    g.add_argument("--rounds", type=int, default=3, help="A B rounds for --vs-peer (default 3)")
    g.add_argument("--peer-dir", default=os.environ.get(PEER_DIR_ENV),
                   help=f"the folder of pysync.py and limit/ (default: ${PEER_DIR_ENV}; "
                        "only read); required with --vs-peer")
    g.add_argument("--limit-build-dir", default=os.path.join(tempfile.gettempdir(),
                                                             "mdesync-limit-build"),
                   help="where limit is built (its sources are copied there)")


# --------------------------------------------------------------------------- limit

def build_limit(peer_dir, build_dir):
    """Copies limit/{build.sh,limit.cpp} to build_dir and builds there unless up to date."""
    src = os.path.join(peer_dir, "limit")
    os.makedirs(build_dir, exist_ok=True)
    exe = os.path.join(build_dir, "limit")
    same = True
    for name in ("build.sh", "limit.cpp"):
        dst = os.path.join(build_dir, name)
        with open(os.path.join(src, name), "rb") as f:
            data = f.read()
        if not os.path.exists(dst) or open(dst, "rb").read() != data:
            same = False
            with open(dst, "wb") as f:
                f.write(data)
    if same and os.access(exe, os.X_OK):
        return exe
    log(f"building limit in {build_dir}")
    subprocess.run(["sh", os.path.join(build_dir, "build.sh")], check=True, stdout=sys.stderr)
    return exe


def local_url(url):
    if not url.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"refusing to contact {url!r}: only 127.0.0.1 is allowed")
    return url


def download_exports(sim, dest):
    """The export files of both exports, as peers/h2h.sh `files` fetches them."""
    body = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": sim.creds["client_id"],
        "client_secret": sim.creds["client_secret"],
        "scope": "https://api.securitycenter.microsoft.com/.default"}).encode()
    url = local_url(f"{sim.url}/{sim.creds['tenant_id']}/oauth2/v2.0/token")
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=60) as r:
        token = json.loads(r.read())["access_token"]
    files = {}
    for kind, ep in (("vuln", "SoftwareVulnerabilitiesExport"),
                     ("inventory", "SoftwareInventoryExport")):
        req = urllib.request.Request(local_url(f"{sim.url}/api/machines/{ep}"),
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=600) as r:
            urls = json.loads(r.read())["exportFiles"]
        os.makedirs(os.path.join(dest, kind), exist_ok=True)
        files[kind] = []
        for i, u in enumerate(urls, 1):
            path = os.path.join(dest, kind, f"part{i}.json.gz")
            with urllib.request.urlopen(local_url(u), timeout=600) as r, open(path, "wb") as f:
                shutil.copyfileobj(r, f, 1 << 20)
            files[kind].append(path)
    log(f"downloaded {len(files['vuln'])} vulnerability and {len(files['inventory'])} "
        f"inventory files for limit")
    return files


def run_limit(exe, files, work, rnd):
    """limit --store on the vulnerability files, then --kind inventory on the inventory
    files (fresh databases); the floor is the sum of its own RESULT seconds."""
    out = {"wallSeconds": 0.0, "cpuSeconds": 0.0, "seconds": 0.0, "rows": 0, "parts": {}}
    for kind in ("vuln", "inventory"):
        db = fresh(os.path.join(work, f"limit-{kind}-{rnd}.db"))
        cmd = [exe, "--store", db, "--threads", "2", *(["--kind", "inventory"]
                                                         if kind == "inventory" else []),
               *files[kind]]
        base = os.path.join(work, f"limit-{kind}-{rnd}")
        m = run_measured(cmd, dict(os.environ), base + ".out", base + ".log", LIMIT_TIMEOUT_S)
        with open(base + ".out") as f:
            text = f.read()
        res = dict(re.findall(r"(\w+)=(\S+)", next(
            (l for l in text.splitlines() if l.startswith("RESULT ")), "")))
        secs = float(res.get("seconds", "nan"))
        out["parts"][kind] = {"seconds": secs, "rows": int(res.get("rows", 0)),
                              "errors": int(res.get("errors", -1)), **m}
        out["seconds"] += secs
        out["rows"] += int(res.get("rows", 0))
        out["wallSeconds"] += m["wallSeconds"]
        out["cpuSeconds"] += m["cpuSeconds"] or 0.0
        remove_db(db)
    log(f"limit round {rnd}: {out['seconds']:.2f} s ({out['rows']} rows)")
    return out


# --------------------------------------------------------------------------- stores

def fresh(path):
    remove_db(path)
    return path


def remove_db(path):
    for s in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + s):
            os.remove(path + s)


def store_stats(db, table="vulnerability"):
    """File size (with -wal), rows of the findings table or view, and bytes per finding;
    with dbstat also the bytes of the table and its indexes alone."""
    size = sum(os.path.getsize(db + s) for s in ("", "-wal") if os.path.exists(db + s))
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        table_bytes = None
        try:
            names = [r[0] for r in con.execute(
                "SELECT name FROM sqlite_schema WHERE tbl_name = ? AND type IN "
                "('table', 'index')", (table,))]
            if names:
                q = ",".join("?" * len(names))
                table_bytes = con.execute(
                    f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({q})", names).fetchone()[0]
        except sqlite3.Error:
            pass
    finally:
        con.close()
    return {"bytes": size, "findings": rows,
            "bytesPerFinding": round(size / rows, 1) if rows else None,
            "tableBytes": table_bytes,
            "tableBytesPerFinding": round(table_bytes / rows, 1) if rows and table_bytes else None}


# --------------------------------------------------------------------------- runs

def mdesync_pair(sync_exe, sim, work, rnd):
    db = fresh(os.path.join(work, f"vs-mdesync-{rnd}.db"))
    extra = ("--rate-limit-scale", "0")
    first = run_sync(sync_exe, sim, db, "full", "export", f"vs_mdesync_first_{rnd}", work, extra)
    first["store"] = store_stats(db)
    first["exportSeconds"] = round(sum(o["seconds"] for o in first["objects"]
                                       if o["object"] in EXPORT_OBJECTS), 3)
    repeat = run_sync(sync_exe, sim, db, "full", "export", f"vs_mdesync_repeat_{rnd}", work,
                      extra)
    repeat["store"] = store_stats(db)
    remove_db(db)
    return first, repeat


def run_pysync(peer_dir, sim, db, label, work):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MDESYNC_", "AZURE_"))}
    env["AZURE_CLIENT_SECRET"] = sim.creds["client_secret"]
    cmd = [sys.executable, os.path.join(peer_dir, "pysync.py"), "--api-url", sim.url,
           "--login-url", sim.url, "--tenant", sim.creds["tenant_id"],
           "--client-id", sim.creds["client_id"], "--db", db]
    base = os.path.join(work, label)
    log(f"{label}: pysync.py")
    sim.reset_stats()
    r = run_measured(cmd, env, base + ".out", base + ".log", PEER_TIMEOUT_S)
    with open(base + ".out") as f:
        steps = {m.group(1): float(m.group(2)) for m in re.finditer(
            r"^(\w+)\s+\S+\s+\S+\s+([0-9.]+)", f.read(), re.M)}
    r["label"] = label
    r["steps"] = steps
    r["exportSeconds"] = round(steps.get("vulnerabilities", 0.0) +
                               steps.get("installed_packages", 0.0), 3)
    r["outcome"] = "success" if r["exitCode"] == 0 else f"exit {r['exitCode']}"
    log(f"{label}: {r['outcome']} in {r['wallSeconds']:.1f} s wall, {r['cpuSeconds']} s CPU")
    return r


def pysync_pair(peer_dir, sim, work, rnd):
    db = fresh(os.path.join(work, f"vs-pysync-{rnd}.db"))
    first = run_pysync(peer_dir, sim, db, f"vs_pysync_first_{rnd}", work)
    first["store"] = store_stats(db)
    repeat = run_pysync(peer_dir, sim, db, f"vs_pysync_repeat_{rnd}", work)
    repeat["store"] = store_stats(db)
    remove_db(db)
    return first, repeat


def run_vs_peer(a, sim_exe, sync_exe, work, shape):
    limit_exe = build_limit(a.peer_dir, a.limit_build_dir)
    log(f"vs peer: starting mdesim with {a.machines} machines, rate limits off")
    sim = Sim(sim_exe, a.machines, log_path=os.path.join(work, "mdesim-peer.log"),
              rate_limits=False, **shape).start()
    runs = {"mdesync": {"first": [], "repeat": []}, "peer": {"first": [], "repeat": []},
            "limit": []}
    try:
        truth = sim.truth()
        files = download_exports(sim, os.path.join(work, "export-files"))
        for rnd in range(1, a.rounds + 1):
            log(f"vs peer: round {rnd} of {a.rounds}")
            f, r = mdesync_pair(sync_exe, sim, work, rnd)
            runs["mdesync"]["first"].append(f)
            runs["mdesync"]["repeat"].append(r)
            f, r = pysync_pair(a.peer_dir, sim, work, rnd)
            runs["peer"]["first"].append(f)
            runs["peer"]["repeat"].append(r)
            runs["limit"].append(run_limit(limit_exe, files, work, rnd))
    finally:
        sim.stop()
    shutil.rmtree(os.path.join(work, "export-files"), ignore_errors=True)
    summary = summarize(runs)
    return {"rounds": a.rounds, "machines": a.machines, "truth": truth,
            "limitExe": limit_exe, "runs": runs, "medians": summary,
            "targets": peer_targets(summary)}


# --------------------------------------------------------------------------- report

def med(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def summarize(runs):
    m, p = runs["mdesync"], runs["peer"]
    out = {}
    for side, r in (("mdesync", m), ("peer", p)):
        out[side] = {
            "firstWall": med(x["wallSeconds"] for x in r["first"]),
            "firstCpu": med(x["cpuSeconds"] for x in r["first"]),
            "repeatWall": med(x["wallSeconds"] for x in r["repeat"]),
            "repeatCpu": med(x["cpuSeconds"] for x in r["repeat"]),
            "storeBytes": med(x["store"]["bytes"] for x in r["first"]),
            "findings": med(x["store"]["findings"] for x in r["first"]),
            "bytesPerFinding": med(x["store"]["bytesPerFinding"] for x in r["first"]),
            "tableBytesPerFinding": med(x["store"]["tableBytesPerFinding"] for x in r["first"]),
            "exportSeconds": med(x["exportSeconds"] for x in r["first"]),
            "outcomes": sorted({x["outcome"] for x in r["first"] + r["repeat"]}),
        }
    out["limit"] = {"seconds": med(x["seconds"] for x in runs["limit"]),
                    "wall": med(x["wallSeconds"] for x in runs["limit"]),
                    "rows": med(x["rows"] for x in runs["limit"])}
    return out


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def peer_targets(s):
    m, p, lim = s["mdesync"], s["peer"], s["limit"]
    ok_runs = m["outcomes"] == ["success"] and p["outcomes"] == ["success"]
    out = []

    def add(name, value, limit, ok, note=""):
        out.append({"target": name, "value": value, "limit": limit,
                    "result": "N/A" if ok is None else ("PASS" if ok and ok_runs else "FAIL"),
                    "note": note if ok_runs else f"{note} runs: mdesync {m['outcomes']}, "
                                                 f"peer {p['outcomes']}".strip()})

    def speedup(name, key, lo, stretch):
        r = ratio(p[key], m[key])
        add(name, f"{r}x ({p[key]} s / {m[key]} s)" if r else "-", f">= {lo:g}x",
            None if r is None else r >= lo,
            "" if r is None else f"stretch {stretch:g}x {'met' if r >= stretch else 'not met'}")

    speedup("vs peer: first full sync faster than the Python peer (wall, median)",
            "firstWall", FIRST_FULL_SPEEDUP_MIN, FIRST_FULL_SPEEDUP_STRETCH)
    speedup("vs peer: repeat full sync faster than the Python peer (wall, median)",
            "repeatWall", REPEAT_FULL_SPEEDUP_MIN, REPEAT_FULL_SPEEDUP_STRETCH)
    r = ratio(m["exportSeconds"], lim["seconds"])
    add("vs peer: export part (vulnerability + installed_package seconds) / limit floor",
        f"{r}x ({m['exportSeconds']} s / {lim['seconds']} s)" if r else "-",
        f"<= {EXPORT_VS_LIMIT_MAX:g}x", None if r is None else r <= EXPORT_VS_LIMIT_MAX)
    b = m["bytesPerFinding"]
    add("vs peer: mdesync store bytes per finding (whole file incl. -wal and indexes)",
        f"{b:.0f} B" if b else "-", f"<= {BYTES_PER_FINDING_MAX:g} B",
        None if b is None else b <= BYTES_PER_FINDING_MAX,
        f"vulnerability table + its indexes alone: {m['tableBytesPerFinding']} B"
        if m["tableBytesPerFinding"] else "")
    return out


def fmt(v, unit="s", digits=1):
    return "-" if v is None else f"{v:,.{digits}f} {unit}".strip()


def table_rows(s):
    m, p, lim = s["mdesync"], s["peer"], s["limit"]
    mb = 1e6
    return [
        ("first full sync, wall", fmt(m["firstWall"]), fmt(p["firstWall"]),
         ratio(p["firstWall"], m["firstWall"])),
        ("first full sync, CPU", fmt(m["firstCpu"]), fmt(p["firstCpu"]),
         ratio(p["firstCpu"], m["firstCpu"])),
        ("repeat full sync, wall", fmt(m["repeatWall"]), fmt(p["repeatWall"]),
         ratio(p["repeatWall"], m["repeatWall"])),
        ("repeat full sync, CPU", fmt(m["repeatCpu"]), fmt(p["repeatCpu"]),
         ratio(p["repeatCpu"], m["repeatCpu"])),
        ("store size after the first full sync",
         fmt(m["storeBytes"] and m["storeBytes"] / mb, "MB", 0),
         fmt(p["storeBytes"] and p["storeBytes"] / mb, "MB", 0),
         ratio(p["storeBytes"], m["storeBytes"])),
        ("findings (rows of `vulnerability`)", fmt(m["findings"], "", 0),
         fmt(p["findings"], "", 0), None),
        ("bytes per finding (store / findings)", fmt(m["bytesPerFinding"], "B", 0),
         fmt(p["bytesPerFinding"], "B", 0), ratio(p["bytesPerFinding"], m["bytesPerFinding"])),
        ("export part (vulnerability + installed_package)", fmt(m["exportSeconds"]),
         fmt(p["exportSeconds"]), ratio(p["exportSeconds"], m["exportSeconds"])),
        ("limit floor, export files only (inflate + simdjson + SQLite, 2 threads)",
         fmt(lim["seconds"]), "-", None),
    ]


def markdown(vs):
    s = vs["medians"]
    L = [f"## vs peer ({vs['machines']:,} machines, rate limits off, median of "
         f"{vs['rounds']} alternating rounds)\n",
         "| | mdesync | Python peer | ratio (peer / mdesync) |", "|---|---:|---:|---:|"]
    for name, a, b, r in table_rows(s):
        L.append(f"| {name} | {a} | {b} | {'-' if r is None else f'{r}x'} |")
    r = ratio(s["mdesync"]["exportSeconds"], s["limit"]["seconds"])
    L.append(f"\nmdesync export part / limit floor: {'-' if r is None else f'{r}x'} "
             "(mdesync's per-object seconds include the downloads; limit reads local files). "
             "Store size: the SQLite file plus -wal after the process ended.\n")
    L.append("| target | value | limit | result |")
    L.append("|---|---|---|---|")
    for t in vs["targets"]:
        note = f" ({t['note']})" if t["note"] else ""
        L.append(f"| {t['target']} | {t['value']} | {t['limit']} | **{t['result']}**{note} |")
    L.append("\n| round | mdesync first | mdesync repeat | peer first | peer repeat | limit |")
    L.append("|---:|---:|---:|---:|---:|---:|")
    rs = vs["runs"]
    for i in range(len(rs["limit"])):
        cells = [f"{x['wallSeconds']:.1f} s / {x['cpuSeconds']:.1f} s CPU" for x in (
            rs["mdesync"]["first"][i], rs["mdesync"]["repeat"][i], rs["peer"]["first"][i],
            rs["peer"]["repeat"][i])]
        L.append(f"| {i + 1} | " + " | ".join(cells) + f" | {rs['limit'][i]['seconds']:.1f} s |")
    return "\n".join(L) + "\n"
