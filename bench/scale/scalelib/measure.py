"""Measuring a process: wall time, CPU and peak RSS from wait4, schedstat sampling."""

import os
import signal
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

