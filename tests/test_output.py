"""Output for two audiences: JSON lines off a terminal, human lines and progress bars on one, nothing else."""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator

import orjson
import pytest

from commitlake.logs import bind, capture_output, configure, get_logger, log, resolve_format
from commitlake.progress import Progress
from commitlake.wording import plural


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, as a real TTY would: rich draws bars and colours on it."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logs() -> Iterator[None]:
    yield
    configure("INFO", None, "json")


def _records(text: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in text.splitlines()]


def test_auto_format_is_json_off_a_terminal_and_human_on_one() -> None:
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("auto", _Terminal()) == "human"
    assert resolve_format("json", _Terminal()) == "json"


def test_human_lines_say_the_stage_and_what_happened(restore_logs: None) -> None:
    stream = _Terminal()
    configure("INFO", stream, "human")
    with bind(run_id="r1", stage="load"):
        log("INFO", "stage.finished", status="succeeded", duration_s=1.25, summary="3 rows inserted",
            rows={"rows_inserted": 3})
        log("WARNING", "github.rate_limit_wait", wait_seconds=12, github_token="ghp_x")
    coloured = stream.getvalue()
    assert "\x1b[" in coloured  # a terminal gets colour
    lines = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", coloured).splitlines() if line.strip()]
    assert len(lines) == 2
    assert "INFO" in lines[0] and "load" in lines[0] and "succeeded in 1.2 s: 3 rows inserted" in lines[0]
    assert "rows_inserted" not in lines[0] and "r1" not in lines[0]  # said once, in the headline
    assert "github.rate_limit_wait" in lines[1] and "wait_seconds=12" in lines[1] and "ghp_x" not in lines[1]


def test_progress_draws_only_on_a_terminal_and_lines_print_above_it(restore_logs: None) -> None:
    plain = io.StringIO()
    configure("INFO", plain, "auto")
    with Progress("ingest", unit="commits") as counter:
        counter.advance(5)
        assert not counter.drawn and counter.count == 5
    assert plain.getvalue() == ""

    terminal = _Terminal()
    configure("INFO", terminal, "auto")
    with Progress("load", unit="lake objects", total=4) as bar:
        assert bar.drawn
        bar.advance(2)
        get_logger("t").info("load.object", key="a")
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", terminal.getvalue())
    assert "0/4 lake objects" in text  # the bar was drawn on the log console
    # What the terminal shows: every `\r` + clear-line rewrites the row, so each row is its last segment.
    rows = [segment.split("\r")[-1] for segment in text.split("\n")]
    logged = [row for row in rows if "load.object" in row]
    assert len(logged) == 1 and "key=a" in logged[0] and "lake objects" not in logged[0]  # never glued to a bar


def test_library_logs_warnings_and_prints_become_records(restore_logs: None) -> None:
    stream = io.StringIO()
    configure("INFO", stream, "json")
    logging.getLogger("great_expectations.data_context").info("Created temporary directory '/tmp/x'")
    logging.getLogger("mlflow.store").warning("Failed to resolve installed pip version")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("noload is deprecated", DeprecationWarning, stacklevel=1)
    with capture_output():
        print("Successfully registered model 'm'.")
        print("half a line", end="")
    records = _records(stream.getvalue())
    events = [(r["event"], r.get("message")) for r in records]
    assert ("library.log", "Failed to resolve installed pip version") in events
    assert not any("Created temporary directory" in str(m) for _, m in events)  # INFO chatter: debug only
    assert ("python.warning", "noload is deprecated") in events
    assert ("library.output", "Successfully registered model 'm'.") in events
    assert ("library.output", "half a line") in events
    warning = next(r for r in records if r["event"] == "python.warning")
    assert warning["category"] == "DeprecationWarning" and warning["level"] == "warning"


def test_plural() -> None:
    assert [plural(1, "repository"), plural(2, "repository"), plural(0, "commit"), plural(3862, "commit"),
            plural(2, "day")] == ["1 repository", "2 repositories", "0 commits", "3,862 commits", "2 days"]


def test_a_retry_is_logged_once(restore_logs: None, tmp_path: object) -> None:
    """A backoff before a retry is one `github.retry` line, not also a `github.rate_limit_wait` line."""
    from pathlib import Path

    from commitlake.config import Settings
    from commitlake.sources.github import GitHubClient
    from commitlake.stages.plan import github_client
    from fake_github import FakeClock, FakeGitHub

    stream = io.StringIO()
    configure("INFO", stream, "json")
    with FakeGitHub(clock=FakeClock(), token="ghp_t") as gh:
        gh.add_real("pallets__click")
        gh.faults.script("502", times=2)
        client = github_client(Settings(home=Path(str(tmp_path)), github_api_url=gh.url, github_token="ghp_t"))
        assert isinstance(client, GitHubClient)
        with client:
            assert client.get(client.url("repos/pallets/click/commits")).status == 200
    events = [r["event"] for r in _records(stream.getvalue())]
    assert events.count("github.retry") == 2 and "github.rate_limit_wait" not in events


def test_training_fits_without_a_convergence_warning(shared_commits: object) -> None:
    """Our own warning is fixed at the source: every candidate converges (or runs a fixed budget) silently."""
    import gzip
    from pathlib import Path

    import pandas as pd
    from sklearn.exceptions import ConvergenceWarning

    from commitlake.ml._features import BODY_COLUMN, NUMERIC_COLUMNS, PATHS_COLUMN, TEXT_COLUMN
    from commitlake.ml._model import CANDIDATES, build_pipeline

    rows, labels = [], []
    with gzip.open(Path(str(shared_commits)) / "commitizen__cz-cli.jsonl.gz", "rt") as lines:
        for line in lines:
            commit = orjson.loads(line)
            subject = commit["commit"]["message"].splitlines()[0]
            kind = re.match(r"(feat|fix|docs|chore|test|refactor|ci|build|style|perf)\b", subject)
            if kind:
                row = {column: 0.0 for column in NUMERIC_COLUMNS}
                row.update(additions=commit["stats"]["additions"], deletions=commit["stats"]["deletions"],
                           files_changed=len(commit["files"]), message_length=len(subject))
                paths = " ".join(f["filename"].lower() for f in commit["files"][:100])
                body = commit["commit"]["message"].partition("\n")[2].lower()
                rows.append({TEXT_COLUMN: subject[kind.end():], BODY_COLUMN: body, PATHS_COLUMN: paths, **row})
                labels.append(kind.group(1))
    assert len(rows) > 300
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for candidate in CANDIDATES:  # every model the search may choose
            build_pipeline(0, candidate).fit(pd.DataFrame(rows), labels)


def test_mlflow_logs_through_ours_not_its_own_handler() -> None:
    """MLflow, imported after configure (as the train stage does), writes no line of its own to stderr."""
    import subprocess
    import sys

    code = ("import logging; from commitlake.logs import configure; configure('INFO', None, 'json'); "
            "import mlflow; logging.getLogger('mlflow.utils.environment').warning('Failed to resolve pip')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    record = orjson.loads(result.stdout)
    assert (record["event"], record["level"], record["logger"], record["message"]) == (
        "library.log", "warning", "mlflow.utils.environment", "Failed to resolve pip")


def test_a_basicconfig_handler_stops_printing_outside_the_format() -> None:
    """`INFO:great_expectations…` came from a root handler on stderr: configure replaces it with ours."""
    import subprocess
    import sys

    code = ("import logging; logging.basicConfig(level=logging.INFO); "
            "from commitlake.logs import configure; configure('INFO', None, 'json'); "
            "logging.getLogger('great_expectations.core').warning('Created temporary directory')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert orjson.loads(result.stdout)["message"] == "Created temporary directory"
