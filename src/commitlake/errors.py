"""One exception tree for commitlake.

    CommitlakeError            anything commitlake reports as a one-line error and a non-zero exit
    ├── ConfigError            a bad setting or source URI
    ├── HostUnreachable        a host name does not resolve or nothing listens: transient, not retried in-process
    ├── SourceError            a source cannot be read (unreadable file, not a git repository, API refused)
    │   ├── AuthError          the API rejected the token (401): the whole run stops
    │   ├── RepoUnavailable    404/451: that repository is skipped, the others go on
    │   ├── BudgetExhausted    --max-requests reached
    │   └── NothingIngested    every source of the command failed: the run stops at ingest
    ├── LakeError              the object store cannot be read or written
    ├── WarehouseError         the database cannot be reached or refused a statement
    ├── QualityGateFailed      a critical expectation failed: the pipeline stops at validate
    └── StageFailed            a stage failed; names the stage and the cause

Exit codes of the `commitlake` command, defined here once: 0 success, 1 an error a retry will not fix,
EXIT_PARTIAL some sources could not be ingested (the rest were, and were loaded; when none was, NothingIngested
stops the run instead), EXIT_TRANSIENT a retry may succeed.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_PARTIAL",
    "EXIT_TERMINATED",
    "EXIT_TRANSIENT",
    "EXIT_USAGE",
    "AuthError",
    "BudgetExhausted",
    "CommitlakeError",
    "ConfigError",
    "HostUnreachable",
    "LakeError",
    "NothingIngested",
    "QualityGateFailed",
    "RepoUnavailable",
    "SourceError",
    "StageFailed",
    "WarehouseError",
    "exit_code",
    "is_transient",
]

#: Exit statuses by class of failure. Usage: a flag or argument the parser refuses (argparse's own code).
EXIT_USAGE = 2
#: Bad input: a setting, URI, file or answer that a retry would not change.
EXIT_BAD_INPUT = 1
#: EX_TEMPFAIL: a retry may succeed. Argo's retryStrategy retries this code (and pod errors) only.
EXIT_TRANSIENT = 75
#: 128 + SIGINT, as shells report an interrupted command.
EXIT_INTERRUPTED = 130
#: 128 + SIGTERM (`timeout`, `kill`, a pod being deleted): unwound like Ctrl-C, so what the command started stops.
EXIT_TERMINATED = 143
#: EX_DATAERR: the command did its work for every source it could read; at least one source failed or
#: was cut short (a damaged file, an unreachable repository). The summary names each one and why. Not
#: retried: the same input fails the same way.
EXIT_PARTIAL = 65


class CommitlakeError(Exception):
    """Base of every error commitlake reports to the user."""

    #: A retry may succeed (a service was unreachable or overloaded). The CLI then exits with 75
    #: (EX_TEMPFAIL), the only code Argo's retryStrategy retries on besides pod errors.
    transient: bool = False

    def __init__(self, *args: object, transient: bool | None = None) -> None:
        """`transient` overrides the class's default for this one error (e.g. a source that gave up on a
        server that kept failing: the source is not at fault, a later run may get through)."""
        super().__init__(*args)
        if transient is not None:
            self.transient = transient


class ConfigError(CommitlakeError):
    pass


class HostUnreachable(CommitlakeError):
    """The network said no (unknown host name): the run stops at once instead of backing off nine times."""

    transient = True


class SourceError(CommitlakeError):
    pass


class AuthError(SourceError):
    pass


class RepoUnavailable(SourceError):
    def __init__(self, repo: str, status: int, message: str) -> None:
        super().__init__(f"{repo}: HTTP {status}: {message}")
        self.repo = repo
        self.status = status


class BudgetExhausted(SourceError):
    pass


class LakeError(CommitlakeError):
    """The store failed under us (transient: a retry may succeed), or what was asked of it is wrong whatever the
    store does (`transient=False`: a bad lake URI or key, an immutable object with other content, a damaged one)."""

    transient = True


class WarehouseError(CommitlakeError):
    transient = True


class NothingIngested(SourceError):
    """Every source of the command failed: nothing to load, so the run stops here rather than validate an empty
    or stale warehouse. Transient only when every source failed for a reason a later run may not meet."""


class QualityGateFailed(CommitlakeError):
    pass


class StageFailed(CommitlakeError):
    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"stage {stage!r} failed: {cause}")
        self.stage = stage
        self.cause = cause
        self.transient = is_transient(cause)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: commitlake says so, or the database/network dropped under us."""
    if isinstance(exc, CommitlakeError):
        return exc.transient
    return type(exc).__name__ in {"OperationalError", "ConnectionError", "ConnectTimeout", "ReadTimeout",
                                  "EndpointConnectionError", "TimeoutError", "ConnectionResetError"}


def exit_code(exc: BaseException) -> int:
    """The exit status the CLI ends with for this error: transient (75) or bad input (1)."""
    return EXIT_TRANSIENT if is_transient(exc) else EXIT_BAD_INPUT
