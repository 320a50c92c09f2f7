"""kill -9 a process that runs loky workers and report which of its workers outlived it (train's search, predict's
scoring): both must die with their parent instead of working on, orphaned."""

from __future__ import annotations

import signal
import subprocess
import time

import psutil


def kill_and_find_orphans(proc: subprocess.Popen[bytes], settle: float = 0.0, timeout: float = 120) -> list[int]:
    """Wait until `proc` runs two loky workers, let it work `settle` seconds more, SIGKILL it; the pids of its
    workers still alive 10 s later. AssertionError if the workers never started (with the process's stderr)."""
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + timeout
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        workers = [c for c in psutil.Process(proc.pid).children() if "LokyProcess" in " ".join(c.cmdline())]
        time.sleep(0.2)
    if len(workers) < 2:
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"the worker processes never started: {(err or b'').decode()[-2000:]}")
    time.sleep(settle)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _gone, alive = psutil.wait_procs(workers, timeout=10)
    return [p.pid for p in alive]
