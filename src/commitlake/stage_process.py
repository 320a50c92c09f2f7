"""Run a group of the local runner's stages in a process of its own: the data stages in one, train and predict
in another (a new group begins at each stage marked `fresh_process` in commitlake.pipeline).

Why: in one process the runner carried what the data stages imported and allocated (a process that imports
Great Expectations holds 280 MB; with dbt, pyarrow and their heaps about 400 MB at 1M commits) into train, whose
search workers ran beside it, so the tree's peak was train's own plus that residue. Now train starts from a
fresh interpreter, and the runner itself holds about 40 MB. Not a process per stage, as Argo has a pod per
stage: each would import its libraries again (Great Expectations twice, MLflow and scikit-learn twice), 12 s
more on a 3,725-commit run of 31 s, where two groups cost 3 s. A group process the kernel kills (out of
memory) fails the run with the stage's name, and the ledger keeps the rest, instead of taking the runner with
it.

The child is spawned, not forked (the runner holds a database connection and may hold threads), dies with
the runner (a kill -9 of `commitlake run` takes the stage and its workers along), logs to the same stream in
the same format, and sends back its results or its failure as text: not every exception pickles (psycopg's,
Great Expectations').
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection

from commitlake.config import Settings
from commitlake.errors import EXIT_INTERRUPTED, CommitlakeError, StageFailed, is_transient
from commitlake.faults import FAULT_EXIT_CODE
from commitlake.pipeline import Backoff, Stage, stage_by_name
from commitlake.stages import StageContext, StageResult
from commitlake.warehouse.db import open_warehouse

__all__ = ["GroupRequest", "StageProcessDied", "StageProcessError", "process_groups", "run_group_in_child"]

#: Seconds a child may take to exit after it reported; then it is killed (its results are in hand, and a
#: thread a timed-out stage left behind must not hold the run).
EXIT_GRACE_SECONDS = 60


def process_groups(stages: list[Stage]) -> list[list[Stage]]:
    """The stages, in order, cut into the groups that share a process: a cut before each `fresh_process` stage."""
    groups: list[list[Stage]] = []
    for stage in stages:
        if not groups or stage.fresh_process:
            groups.append([])
        groups[-1].append(stage)
    return groups


@dataclass(frozen=True)
class GroupRequest:
    """What the child needs to run its stages as the runner would have in its own process."""

    settings: Settings
    run_id: str
    stages: tuple[str, ...]
    validating: bool
    progress: bool
    backoff: Backoff


@dataclass(frozen=True)
class _Failure:
    """An exception of the child, as text: the stage it failed (None: before any stage ran), why, and whether a
    retry may help."""

    stage: str | None
    message: str
    transient: bool


class StageProcessError(CommitlakeError):
    """A failure reported by (or the death of) a stage process; keeps the child's message and retry class."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class StageProcessDied(StageProcessError):
    """The child ended without reporting (killed by a signal, or a crash below Python): which of its stages
    died is in the ledger, the rows it left `running`."""


def run_group_in_child(request: GroupRequest) -> dict[str, StageResult]:
    """runner.run_step for each stage of the group, in a spawned child; the results, or the failure raised
    here as StageFailed (StageProcessDied when the child could not say which stage failed).

    A child killed at a fault point (COMMITLAKE_FAULT) ends this process the same way: the point stands for a
    kill -9 of `commitlake run`, which takes the runner down too, so the ledger is left as that kill leaves it.
    """
    from commitlake.logs import configuration

    spawn = multiprocessing.get_context("spawn")
    receive, send = spawn.Pipe(duplex=False)
    child = spawn.Process(target=_child_main, args=(request, configuration(), send, os.getpid()),
                          name=f"commitlake {'+'.join(request.stages)}")
    child.start()
    send.close()  # the child holds the only writing end: its exit ends recv() with EOFError
    try:
        try:
            outcome: dict[str, StageResult] | _Failure | None = receive.recv()
        except EOFError:
            outcome = None
        child.join(EXIT_GRACE_SECONDS)
    finally:
        if child.is_alive():  # interrupted (the child got the same Ctrl-C) or past its grace: not left behind
            child.kill()
            child.join()
        receive.close()
    if isinstance(outcome, dict):
        return outcome
    if child.exitcode == FAULT_EXIT_CODE:
        os._exit(FAULT_EXIT_CODE)
    if outcome is None:
        raise StageProcessDied(_death(child.exitcode))
    cause = StageProcessError(outcome.message, transient=outcome.transient)
    if outcome.stage is None:
        raise cause
    raise StageFailed(outcome.stage, cause)


def _death(exitcode: int | None) -> str:
    """Why a child that sent nothing ended, in words."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:  # a real-time signal has no name
            name = f"signal {-exitcode}"
        hint = " (the kernel's out-of-memory killer sends it)" if -exitcode == signal.SIGKILL else ""
        return f"its process was killed by {name}{hint}"
    return f"its process exited with status {exitcode} before reporting a result"


def _child_main(request: GroupRequest, log_config: tuple[str, str, str], send: Connection, parent: int) -> None:
    """The spawned process: logs configured like the runner's, its stages against its own connections."""
    from commitlake.lifeline import die_with_parent
    from commitlake.logs import bind, capture_output, configure

    die_with_parent(parent)
    level, stream, fmt = log_config
    configure(level, sys.stderr if stream == "stderr" else None, fmt)
    try:
        with capture_output(), bind(run_id=request.run_id):
            outcome: dict[str, StageResult] | _Failure = _run(request)
    except KeyboardInterrupt:  # Ctrl-C reached the whole process group: the runner reports it, once
        os._exit(EXIT_INTERRUPTED)
    send.send(outcome)
    send.close()


def _run(request: GroupRequest) -> dict[str, StageResult] | _Failure:
    from commitlake.runner import run_step  # the runner imports this module

    results: dict[str, StageResult] = {}
    try:
        with open_warehouse(request.settings, keep_running=True) as warehouse:  # the runner owns the server
            ctx = StageContext(request.settings, request.run_id, warehouse, progress=request.progress)
            for name in request.stages:
                results.update(run_step(ctx, stage_by_name(name), request.validating, request.backoff))
        return results
    except StageFailed as exc:
        return _Failure(exc.stage, str(exc.cause), exc.transient)
    except CommitlakeError as exc:
        return _Failure(None, str(exc), exc.transient)
    except Exception as exc:  # a bug: one line, as the CLI prints one, with its class
        return _Failure(None, f"unexpected {type(exc).__name__}: {exc}", is_transient(exc))
