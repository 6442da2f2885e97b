"""Measuring a process: wall time, CPU and peak RSS from wait4, schedstat sampling."""

import os
import signal
import subprocess
import sys
import time


def log(msg):
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return None


def sample_schedstat(pid, into):
    """Latest /proc schedstat per thread: (ns on CPU, ns runnable but waiting for a CPU)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                on, wait = f.read().split()[:2]
            into[tid] = (int(on), int(wait))
        except (OSError, ValueError):
            pass


def wait4_bounded(p, timeout):
    """Waits for p with wait4 (its rusage: CPU time, peak RSS); SIGTERM after timeout,
    SIGKILL 30 s later."""
    deadline = time.monotonic() + timeout
    signalled = None
    p.sched = {}
    while True:
        sample_schedstat(p.pid, p.sched)
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return status, ru
        now = time.monotonic()
        if signalled is None and now > deadline:
            log(f"mdesync {p.pid} exceeded {timeout} s; stopping it")
            os.kill(p.pid, signal.SIGTERM)
            signalled = now
        elif signalled is not None and now > signalled + 30:
            os.kill(p.pid, signal.SIGKILL)
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            return status, ru
        time.sleep(0.02)



def run_measured(cmd, env, out_path, err_path, timeout):
    """Runs cmd (stdout, stderr to files), bounded by timeout: wall, CPU, peak RSS,
    exit code and the time its threads waited for a CPU."""
    load_before = loadavg()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        status, ru = wait4_bounded(p, timeout)
        wall = time.monotonic() - t0
    sched = getattr(p, "sched", {})
    return {
        "exitCode": os.waitstatus_to_exitcode(status) if status is not None else None,
        "wallSeconds": round(wall, 3),
        "cpuSeconds": round(ru.ru_utime + ru.ru_stime, 3) if ru else None,
        "peakRssMB": round(ru.ru_maxrss / 1024.0, 1) if ru else None,
        "runQueueWaitSeconds": round(sum(w for _, w in sched.values()) / 1e9, 2),
        "loadAverage1mBefore": load_before, "loadAverage1mAfter": loadavg(),
        "log": err_path,
    }
