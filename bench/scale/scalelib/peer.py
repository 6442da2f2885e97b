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
from .pg import Pg
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

# The realistic fulls of issue 29: (case, hours the simulator advances before it, name).
# "week" follows "day", so each is that long after the previous full sync.
LATER_CASES = (("day", 24, "full sync 24 h after the previous full"),
               ("week", 168, "full sync 7 days after the previous full"))
CASES = ("first", "repeat", "day", "week")
CASE_NAMES = {"first": "first full sync", "repeat": "repeat full sync of the unchanged tenant",
              **{c: n for c, _, n in LATER_CASES}}
# Targets of issue 29.
LATER_SPEEDUP_MIN = 4.0
PG_FIRST_VS_SQLITE_MAX = 1.3
PG_REPEAT_VS_SQLITE_MAX = 1.5
RSS_MAX_MB = 256.0


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
    g.add_argument("--skip-later", action="store_true",
                   help="leave out the full syncs 24 h and 7 days after the previous full")
    g.add_argument("--peer-pg", default="cluster", metavar="cluster|off|URL",
                   help="mdesync on PostgreSQL too: 'cluster' (default) starts a throwaway "
                        "cluster with scripts/pg-cluster (fsync on), a postgresql:// URL uses "
                        "that server (a schema vs_mdesync_<round>), 'off' leaves it out")


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

MDESYNC_EXTRA = ("--rate-limit-scale", "0")


def export_seconds(r):
    return round(sum(o["seconds"] for o in r["objects"] if o["object"] in EXPORT_OBJECTS), 3)


def truth_mismatches(r, truth):
    """Rows read per object against the simulator's truth at the time of the run."""
    read = {o["object"]: o["read"] for o in r.get("objects", [])}
    want = {"machine": truth.get("machines"),
            "installed_package": truth.get("installedSoftware"),
            "vulnerability": (truth.get("openFindings") or 0) + (truth.get("nullCveRows") or 0)}
    return {k: {"read": read.get(k), "truth": v} for k, v in want.items()
            if v is not None and read.get(k) != v}


def mdesync_run(sync_exe, sim, db, label, work, stats):
    r = run_sync(sync_exe, sim, db, "full", "export", label, work, MDESYNC_EXTRA)
    r["store"] = stats()
    r["exportSeconds"] = export_seconds(r)
    return r


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
    r["store"] = store_stats(db)
    log(f"{label}: {r['outcome']} in {r['wallSeconds']:.1f} s wall, {r['cpuSeconds']} s CPU")
    return r


def run_round(a, sim, sync_exe, pg, limit_exe, files, work, rnd, runs):
    """One round on a simulator at the tenant's start time: first and repeat full syncs
    (mdesync on SQLite, on PostgreSQL, the peer), the limit floor, then the later fulls:
    the simulator advanced by 24 h and each side's full sync onto its store, then by 7
    days more and the same again."""
    sq_db = fresh(os.path.join(work, f"vs-mdesync-{rnd}.db"))
    py_db = fresh(os.path.join(work, f"vs-pysync-{rnd}.db"))
    schema = f"vs_mdesync_{rnd}"
    pg_db = pg.store(schema) if pg else None
    sides = [("mdesync", sq_db, lambda: store_stats(sq_db))]
    if pg:
        sides.append(("mdesyncPg", pg_db, lambda: pg.stats(schema)))
    try:
        for case in ("first", "repeat"):
            for side, db, stats in sides:
                r = mdesync_run(sync_exe, sim, db, f"vs_{side}_{case}_{rnd}", work, stats)
                runs[side][case].append(r)
        for case in ("first", "repeat"):
            runs["peer"][case].append(run_pysync(a.peer_dir, sim, py_db,
                                                 f"vs_pysync_{case}_{rnd}", work))
        runs["limit"].append(run_limit(limit_exe, files, work, rnd))
        if a.skip_later:
            return
        for case, hours, _ in LATER_CASES:
            adv = sim.advance(hours)
            truth = sim.truth()
            log(f"vs peer: advanced {hours} h to {adv.get('now')} ({adv.get('events')} events)")
            for side, db, stats in sides:
                r = mdesync_run(sync_exe, sim, db, f"vs_{side}_{case}_{rnd}", work, stats)
                r["advance"] = adv
                r["truthMismatches"] = truth_mismatches(r, truth)
                if r["truthMismatches"]:
                    log(f"{r['label']}: rows read differ from the truth: "
                        f"{r['truthMismatches']}")
                runs[side][case].append(r)
            p = run_pysync(a.peer_dir, sim, py_db, f"vs_pysync_{case}_{rnd}", work)
            p["advance"] = adv
            runs["peer"][case].append(p)
    finally:
        remove_db(sq_db)
        remove_db(py_db)
        if pg:
            pg.drop(schema)


def run_vs_peer(a, sim_exe, sync_exe, work, shape):
    limit_exe = build_limit(a.peer_dir, a.limit_build_dir)
    sides = ("mdesync", "mdesyncPg", "peer")
    runs = {s: {c: [] for c in CASES} for s in sides}
    runs["limit"] = []
    pg = None if a.peer_pg == "off" else Pg(a.peer_pg, work)
    truth = files = None
    try:
        if pg:
            pg.start()
        for rnd in range(1, a.rounds + 1):
            # A simulator of its own each round: every round starts from the same tenant at
            # the same simulated time (the later fulls advance it).  Its export files are
            # cached (--cache-dir), so only the first start generates them.
            log(f"vs peer: round {rnd} of {a.rounds}: starting mdesim with {a.machines} "
                "machines, rate limits off")
            sim = Sim(sim_exe, a.machines, log_path=os.path.join(work, f"mdesim-peer-{rnd}.log"),
                      rate_limits=False, **shape).start()
            try:
                if files is None:
                    truth = sim.truth()
                    files = download_exports(sim, os.path.join(work, "export-files"))
                run_round(a, sim, sync_exe, pg, limit_exe, files, work, rnd, runs)
            finally:
                sim.stop()
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(os.path.join(work, "export-files"), ignore_errors=True)
    summary = summarize(runs)
    return {"rounds": a.rounds, "machines": a.machines, "truth": truth,
            "limitExe": limit_exe, "runs": runs, "medians": summary,
            "postgresql": bool(pg), "laterCases": not a.skip_later,
            "targets": peer_targets(summary) + later_targets(summary, runs)}


# --------------------------------------------------------------------------- report

def med(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


OBJECT_FIELDS = ("read", "written", "unchanged", "closed", "skipped", "seconds",
                 "downloadSeconds", "decodeSeconds", "mapSeconds", "storeSeconds")


def object_medians(rs):
    """Per object of mdesync's run summaries: median rows and seconds over the rounds."""
    out = {}
    for obj in ("machine", "vulnerability", "installed_package", "vulnerability_definition"):
        per = [o for x in rs for o in x.get("objects", []) if o["object"] == obj]
        if per:
            out[obj] = {k: med(o.get(k) for o in per) for k in OBJECT_FIELDS}
    return out


def summarize(runs):
    out = {}
    for side in ("mdesync", "mdesyncPg", "peer"):
        r = runs.get(side)
        if not r or not r["first"]:
            continue
        every = [x for c in CASES for x in r.get(c, [])]
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
            "outcomes": sorted({x["outcome"] for x in every}),
            "peakRssMB": max((x["peakRssMB"] for x in every if x.get("peakRssMB")),
                             default=None),
            "cases": {c: {"wall": med(x["wallSeconds"] for x in r[c]),
                          "cpu": med(x["cpuSeconds"] for x in r[c]),
                          "exportSeconds": med(x["exportSeconds"] for x in r[c]),
                          "storeBytes": med(x["store"]["bytes"] for x in r[c]),
                          **({"objects": object_medians(r[c])} if side != "peer" else {})}
                      for c in CASES if r.get(c)},
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


def later_targets(s, runs):
    """Targets of issue 29 for the later fulls and PostgreSQL; peak RSS of every mdesync
    run of the comparison; rows read in the later fulls equal the simulator's truth."""
    out = []
    p = s.get("peer")

    def add(name, value, limit, ok, sides, note=""):
        bad = {k: s[k]["outcomes"] for k in sides if s[k]["outcomes"] != ["success"]}
        if bad:
            ok, note = False, f"{note} runs: {bad}".strip()
        out.append({"target": name, "value": value, "limit": limit,
                    "result": "N/A" if ok is None else ("PASS" if ok else "FAIL"),
                    "note": note})

    for key, store in (("mdesync", "SQLite"), ("mdesyncPg", "PostgreSQL")):
        side = s.get(key)
        if not side or not p:
            continue
        for case, _, name in LATER_CASES:
            if case not in side["cases"] or case not in p["cases"]:
                continue
            pw, mw = p["cases"][case]["wall"], side["cases"][case]["wall"]
            r = ratio(pw, mw)
            add(f"vs peer: {name} faster than the Python peer ({store}, wall, median)",
                f"{r}x ({pw} s / {mw} s)" if r else "-", f">= {LATER_SPEEDUP_MIN:g}x",
                None if r is None else r >= LATER_SPEEDUP_MIN, (key, "peer"))
    m, g = s.get("mdesync"), s.get("mdesyncPg")
    if m and g:
        for case, lim in (("first", PG_FIRST_VS_SQLITE_MAX), ("repeat", PG_REPEAT_VS_SQLITE_MAX)):
            gw, mw = g[case + "Wall"], m[case + "Wall"]
            r = ratio(gw, mw)
            add(f"PostgreSQL {CASE_NAMES[case]} relative to SQLite (wall, median)",
                f"{r}x ({gw} s / {mw} s)" if r else "-", f"<= {lim:g}x",
                None if r is None else r <= lim, ("mdesync", "mdesyncPg"))
    for key, store in (("mdesync", "SQLite"), ("mdesyncPg", "PostgreSQL")):
        if s.get(key) and s[key]["peakRssMB"]:
            rss = s[key]["peakRssMB"]
            out.append({"target": f"vs peer: peak RSS of every mdesync run ({store})",
                        "value": f"{rss:.0f} MB", "limit": f"< {RSS_MAX_MB:g} MB",
                        "result": "PASS" if rss < RSS_MAX_MB else "FAIL", "note": ""})
    later = [x for k in ("mdesync", "mdesyncPg") for c, _, _ in LATER_CASES
             for x in runs.get(k, {}).get(c, [])]
    if later:
        wrong = [f"{x['label']}: {x['truthMismatches']}" for x in later if x["truthMismatches"]]
        out.append({"target": "vs peer: rows read by the later fulls equal the simulator's truth",
                    "value": f"{len(later) - len(wrong)} of {len(later)} runs",
                    "limit": "all", "result": "FAIL" if wrong else "PASS",
                    "note": "; ".join(wrong)})
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
    ] + [row for case, _, name in LATER_CASES
         if case in m["cases"] and case in p["cases"]
         for row in ((f"{name}, wall", fmt(m["cases"][case]["wall"]),
                      fmt(p["cases"][case]["wall"]),
                      ratio(p["cases"][case]["wall"], m["cases"][case]["wall"])),
                     (f"{name}, CPU", fmt(m["cases"][case]["cpu"]),
                      fmt(p["cases"][case]["cpu"]),
                      ratio(p["cases"][case]["cpu"], m["cases"][case]["cpu"])))]


def wall_cpu(c):
    return "-" if not c else f"{fmt(c['wall'])} ({fmt(c['cpu'])} CPU)"


def stores_markdown(vs):
    """mdesync on SQLite and on PostgreSQL and the peer, case by case, and the rows the
    later fulls changed."""
    s, rs = vs["medians"], vs["runs"]
    m, g, p = s["mdesync"], s.get("mdesyncPg"), s["peer"]
    L = ["\n### SQLite, PostgreSQL and the later fulls (medians; CPU is mdesync's or the "
         "peer's process only, not the PostgreSQL server's)\n",
         "| case | mdesync SQLite | mdesync PostgreSQL | PostgreSQL / SQLite | Python peer | "
         "peer / SQLite | peer / PostgreSQL |", "|---|---:|---:|---:|---:|---:|---:|"]
    for case in CASES:
        mc, gc, pc = (x["cases"].get(case) if x else None for x in (m, g, p))
        if not mc:
            continue
        r = [ratio(gc and gc["wall"], mc["wall"]), ratio(pc and pc["wall"], mc["wall"]),
             ratio(pc and pc["wall"], gc and gc["wall"])]
        L.append(f"| {CASE_NAMES[case]} | {wall_cpu(mc)} | {wall_cpu(gc)} | "
                 + " | ".join("-" if x is None else f"{x}x" for x in r[:1])
                 + f" | {wall_cpu(pc)} | "
                 + " | ".join("-" if x is None else f"{x}x" for x in r[1:]) + " |")
    if g:
        L.append(f"\nPostgreSQL store size after the first full sync: "
                 f"{fmt(g['storeBytes'] and g['storeBytes'] / 1e6, 'MB', 0)} "
                 f"({fmt(g['bytesPerFinding'], 'B', 0)} per finding, indexes included).")
    L.append("\nRows of mdesync's run summary (medians, SQLite and PostgreSQL) "
             "per case and object: read, written, unchanged, closed, skipped, "
             "the object's seconds and its store seconds.\n")
    L.append("| case | store | object | read | written | unchanged | closed | skipped | "
             "changed share | seconds | store s |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in CASES[1:]:
        for key, store in (("mdesync", "SQLite"), ("mdesyncPg", "PostgreSQL")):
            c = (s.get(key) or {}).get("cases", {}).get(case)
            if not c:
                continue
            for obj in ("vulnerability", "installed_package"):
                o = c["objects"].get(obj)
                if not o:
                    continue
                share = f"{o['written'] / o['read']:.1%}" if o["read"] else "-"
                L.append(f"| {CASE_NAMES[case]} | {store} | {obj} | {o['read']:,.0f} | "
                         f"{o['written']:,.0f} | {o['unchanged']:,.0f} | {o['closed']:,.0f} | "
                         f"{o['skipped']:,.0f} | {share} | {o['seconds']:.2f} | "
                         f"{o['storeSeconds']:.2f} |")
    L.append("\n| round | case | mdesync SQLite | mdesync PostgreSQL | Python peer |")
    L.append("|---:|---|---:|---:|---:|")
    for i in range(len(rs["limit"])):
        for case in CASES:
            cells = []
            for key in ("mdesync", "mdesyncPg", "peer"):
                xs = rs.get(key, {}).get(case, [])
                cells.append(f"{xs[i]['wallSeconds']:.1f} s / {xs[i]['cpuSeconds']:.1f} s CPU"
                             if i < len(xs) else "-")
            if cells != ["-"] * 3:
                L.append(f"| {i + 1} | {case} | " + " | ".join(cells) + " |")
    return "\n".join(L) + "\n"


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
    return "\n".join(L) + "\n" + stores_markdown(vs)
