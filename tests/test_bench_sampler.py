"""bench/bench_e2e.py's memory sampler: RSS summed over a tree counts a shared page once per process, PSS once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_e2e import Sampler  # noqa: E402

# A parent maps 120 MB of shared memory and touches every page, then two forked children touch them too and all
# three wait: three processes each show the 120 MB in their RSS, while the pages exist once. Pages are touched one
# by one, so no temporary copy of them ever sits in a private heap; "ready" is printed once all three have them.
_SHARED_TREE = textwrap.dedent(
    """
    import mmap, os, sys, time
    size = 120 * 2**20
    shared = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
    for i in range(0, size, 4096):
        shared[i] = 1
    done, told = os.pipe()
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            sum(shared[i] for i in range(0, size, 4096))
            os.write(told, b"x")
            time.sleep(float(sys.argv[1]))
            os._exit(0)
        children.append(pid)
    got = b""
    while len(got) < 2:  # one byte from each child
        got += os.read(done, 2 - len(got))
    print("ready", flush=True)
    time.sleep(float(sys.argv[1]))
    for pid in children:
        os.waitpid(pid, 0)
    """
)


def test_pss_counts_a_shared_mapping_once_where_the_rss_sum_counts_it_per_process() -> None:
    tree = subprocess.Popen([sys.executable, "-c", _SHARED_TREE, "3"], stdout=subprocess.PIPE, text=True)
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert tree.stdout is not None and tree.stdout.readline().strip() == "ready"
        sampler = Sampler(psutil.Process(tree.pid), psutil.Process(idle.pid))
        time.sleep(1.0)
        peaks = sampler.stop()
    finally:
        tree.wait(timeout=30)
        idle.kill()
    assert peaks["commitlake_tree_mb"] >= 3 * 115, peaks  # the mapping in each of the three RSS
    assert 115 <= peaks["commitlake_tree_pss_mb"] < 2 * 115, peaks  # and once in the PSS
    assert peaks["commitlake_max_process_mb"] >= 115
    assert peaks["postgres_pss_mb"] <= peaks["postgres_sum_mb"] < 100  # the idle stand-in for the server
    assert all(len(sample) == 6 for sample in sampler.samples)
