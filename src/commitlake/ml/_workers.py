"""Worker processes for training and scoring: how many, how they die with their parent, and when fits may fan out.

Processes, not threads: text vectorizing holds the GIL, and liblinear draws from a process-global random
generator, so two fits on threads would race on it. Every fit stays single-threaded inside its process, so
two workers on two cores give the same results as one after the other.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from commitlake.lifeline import die_with_parent
from commitlake.memory import release_free_memory

__all__ = [
    "CGROUP_CPU_MAX",
    "DEFAULT_MAX_JOBS",
    "WORKER_IDLE_SECONDS",
    "cpu_quota",
    "default_jobs",
    "fit_jobs",
    "loky_config",
    "map_in_workers",
    "parallel_fits",
]

#: Worker processes training and scoring use at most by default (COMMITLAKE_TRAIN_JOBS): the pods' CPU limit.
DEFAULT_MAX_JOBS = 2
#: Seconds an idle worker lives: long enough to serve the next batch, short enough that its memory is back
#: before the next step runs in the same process.
WORKER_IDLE_SECONDS = 10

_FIT_JOBS: contextvars.ContextVar[int] = contextvars.ContextVar("commitlake_fit_jobs", default=1)


#: The container's CPU quota (cgroup v2): "max 100000" or "<quota> <period>" in microseconds.
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cpu_quota(path: Path = CGROUP_CPU_MAX) -> float | None:
    """CPUs the container's quota allows (a pod's CPU limit), or None without a quota or outside a container."""
    try:
        quota, period = path.read_text().split()[:2]
        return None if quota == "max" else max(int(quota) / int(period), 0.0)
    except (OSError, ValueError):
        return None


def default_jobs(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Worker processes to use: the CPUs this process may use, at most DEFAULT_MAX_JOBS. The CPU limit counts:
    in a pod the affinity shows every CPU of the node, and two workers under a 1-CPU limit only take turns."""
    quota = cpu_quota(cpu_max)
    cpus = len(os.sched_getaffinity(0)) if quota is None else min(len(os.sched_getaffinity(0)), int(quota) or 1)
    return max(1, min(DEFAULT_MAX_JOBS, cpus))


def loky_config() -> dict[str, Any]:
    """joblib.parallel_config arguments for loky workers that die with this process and do not linger."""
    return {
        "backend": "loky",
        "initializer": die_with_parent,
        "initargs": (os.getpid(),),
        "idle_worker_timeout": WORKER_IDLE_SECONDS,
    }


def map_in_workers(fn: Callable[..., Any], calls: Iterable[tuple[Any, ...]], jobs: int) -> list[Any]:
    """[fn(*args) for args in calls], in order; in `jobs` loky workers when > 1. A call's arguments are only
    built when a worker is free for it (pre_dispatch), so a lazy `calls` never holds more than `jobs` at once."""
    if jobs <= 1:
        return [fn(*args) for args in calls]
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(**loky_config()):
        return list(Parallel(n_jobs=jobs, pre_dispatch="n_jobs")(delayed(_then_release)(fn, *args) for args in calls))


def _then_release(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) in a worker, then the worker's freed heap back to the OS: a worker runs fit after fit, and what
    one fit freed stayed resident while the next ran (and while the worker idled through the parent's refit)."""
    try:
        return fn(*args)
    finally:
        release_free_memory()


def fit_jobs() -> int:
    """Processes a single fit may fan out to (1 unless inside parallel_fits): only the parent's own fits fan
    out, never a fit that already runs in a search worker."""
    return _FIT_JOBS.get()


@contextlib.contextmanager
def parallel_fits(jobs: int) -> Iterator[None]:
    """Let fits in this block spread their independent parts (a linear model's one-vs-rest problems) over `jobs`
    processes. The fitted model does not depend on it."""
    token = _FIT_JOBS.set(max(1, jobs))
    try:
        yield
    finally:
        _FIT_JOBS.reset(token)
