"""The ingest stage on local files from ../shared: bytes kept exactly, one bad source never sinks the others,
and records, rejects and unreadable bytes counted apart (issue 10, items 3, 4 and 5)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from commitlake.config import Settings
from commitlake.runner import run_pipeline
from commitlake.status import print_status


def _lines(shared_commits: Path, slug: str) -> list[bytes]:
    with gzip.open(shared_commits / f"{slug}.jsonl.gz", "rb") as handle:
        return [line for line in handle.read().split(b"\n") if line]


def _settings(tmp_path: Path, database: str, *uris: str) -> Settings:
    return Settings.from_env({
        "COMMITLAKE_HOME": str(tmp_path / "home"), "DATABASE_URL": database, "COMMITLAKE_REPOS": ",".join(uris),
    })


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def _complete_lines_before_damage(data: bytes) -> int:
    """What an independent reader gets out of a cut gzip: the complete lines before the cut."""
    out = zlib.decompressobj(wbits=31).decompress(data)
    return out.count(b"\n")


def test_lines_in_any_json_formatting_load_as_their_records(tmp_path: Path, fresh_database: str,
                                                           shared_commits: Path) -> None:
    """ingest passes a file's lines on as they are: spaced, reordered, \\u-escaped or CRLF lines load as the
    same records (jsonb of the parsed line), every one."""
    import json

    lines = _lines(shared_commits, "commitizen__cz-cli")[:8]
    records = [orjson.loads(line) for line in lines]
    records[1]["commit"]["message"] = "caf\u00e9 " + records[1]["commit"]["message"]
    formatted = [
        lines[0],
        json.dumps(records[1], ensure_ascii=True).encode(),  # "caf\u00e9", spaces after , and :
        json.dumps(records[2], indent=1).replace("\n", "").encode(),  # indented, then joined to one line
        orjson.dumps(dict(reversed(list(records[3].items())))),
        lines[4] + b"\r",
        *lines[5:],
    ]
    path = tmp_path / "commitizen__cz-cli.jsonl"
    path.write_bytes(b"\n".join(formatted) + b"\n")

    summary = run_pipeline(_settings(tmp_path, fresh_database, f"jsonl:{path}"), only=["plan", "ingest", "load"],
                           progress=False)

    assert summary.results["ingest"].row_counts["records_rejected"] == 0
    loaded = dict(_query(fresh_database, "select sha, payload from raw.github_commits"))
    assert loaded == {r["sha"]: r for r in records}
    assert _query(fresh_database, "select count(*) from raw.rejected_records") == [(0,)]


def test_invalid_utf8_is_quarantined_with_its_exact_bytes(
    tmp_path: Path, fresh_database: str, shared_commits: Path
) -> None:
    lines = _lines(shared_commits, "commitizen__cz-cli")
    latin1 = lines[5].replace(b'"message":"', b'"message":"caf\xe9 ', 1)  # a Latin-1 byte: not UTF-8
    bad_sha = orjson.loads(lines[5])["sha"]
    path = tmp_path / "commitizen__cz-cli.jsonl"
    path.write_bytes(b"\n".join([*lines[:5], latin1, *lines[6:]]) + b"\n")

    summary = run_pipeline(_settings(tmp_path, fresh_database, f"jsonl:{path}"), only=["plan", "ingest", "load"],
                           progress=False)

    assert summary.results["ingest"].row_counts["records_rejected"] == 1
    assert _query(fresh_database, f"select count(*) from raw.github_commits where sha = '{bad_sha}'") == [(0,)]
    assert _query(fresh_database, "select count(*) from raw.github_commits") == [(len(lines) - 1,)]
    assert _query(fresh_database, "select reason, original_bytes from raw.rejected_records") == [
        ("invalid_utf8", latin1)
    ]


def test_one_bad_source_does_not_sink_the_others(
    tmp_path: Path, fresh_database: str, shared_commits: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _lines(shared_commits, "commitizen__cz-cli")
    with_garbage = tmp_path / "commitizen__cz-cli.jsonl"
    with_garbage.write_bytes(b"\n".join([good[0], b"<html>rate limited</html>", *good[1:], b"[1, 2]"]) + b"\n")
    whole = (shared_commits / "googleapis__release-please.jsonl.gz").read_bytes()
    cut = whole[: len(whole) * 3 // 5]
    truncated = tmp_path / "googleapis__release-please.jsonl.gz"
    truncated.write_bytes(cut)
    before_cut = _complete_lines_before_damage(cut)
    unreadable = tmp_path / "octo__cat.jsonl.gz"
    unreadable.write_bytes(b"\x1f\x8b\x08\x00garbage")
    uris = [f"jsonl:{with_garbage}", f"jsonl:{truncated}", f"jsonl:{unreadable}"]

    summary = run_pipeline(_settings(tmp_path, fresh_database, *uris), only=["plan", "ingest", "load"],
                           progress=False)

    ingest = summary.results["ingest"]
    assert set(summary.failures) == {uris[1], uris[2]}
    assert "truncated gzip" in summary.failures[uris[1]] and f"{before_cut} lines read" in summary.failures[uris[1]]
    assert "cannot read" in summary.failures[uris[2]] and str(unreadable) in summary.failures[uris[2]]
    assert ingest.row_counts["commits_ingested"] == len(good) + before_cut  # garbage lines are not commits
    assert ingest.row_counts["records_rejected"] == 2
    assert ingest.row_counts["unreadable_bytes"] > 0
    assert uris[1] in ingest.summary and uris[2] in ingest.summary
    assert "partially succeeded" in summary.render() and f"FAILED {uris[1]}" in summary.render()
    # the records before the damage were loaded with the healthy source's
    counts = dict(_query(fresh_database, "select repo_full_name, count(*) from raw.github_commits group by 1"))
    assert counts == {"commitizen/cz-cli": len(good), "googleapis/release-please": before_cut}
    assert summary.results["load"].row_counts["rejected"] == 2
    statuses = dict(_query(fresh_database, "select stage, status from ops.pipeline_runs"))
    assert statuses == {  # one row per fan-out item, as Argo runs one pod per repository
        "plan": "succeeded", f"ingest[{uris[0]}]": "succeeded", f"ingest[{uris[1]}]": "partial",
        f"ingest[{uris[2]}]": "partial", "load": "succeeded", "_run": "partial",
    }
    capsys.readouterr()
    print_status(_settings(tmp_path, fresh_database), limit=1)
    shown = capsys.readouterr().out
    assert f"failed {uris[1]}: partial: truncated gzip" in shown and f"failed {uris[2]}: failed:" in shown
    # the damaged file keeps no cursor: the next run reports it again instead of calling it unchanged
    state = _query(fresh_database, "select repo_full_name from ops.ingest_state where etag is not null")
    assert state == [("commitizen/cz-cli",)]
    again = run_pipeline(_settings(tmp_path, fresh_database, *uris), only=["plan", "ingest"], progress=False)
    assert set(again.failures) == {uris[1], uris[2]}
    # a retry of the same run finds the partial manifest and still reports why
    retry = run_pipeline(_settings(tmp_path, fresh_database, *uris).with_overrides(run_id=summary.run_id),
                         only=["plan", "ingest"], progress=False)
    assert "truncated gzip" in retry.failures[uris[1]]


@pytest.mark.parametrize("cut_at", [0.2, 0.9])
def test_truncated_gzip_counts_what_it_could_not_read(tmp_path: Path, shared_commits: Path, cut_at: float) -> None:
    from commitlake.sources.jsonl import JsonlSource

    whole = (shared_commits / "pallets__click.jsonl.gz").read_bytes()
    cut = whole[: int(len(whole) * cut_at)]
    path = tmp_path / "pallets__click.jsonl.gz"
    path.write_bytes(cut)
    source = JsonlSource(f"jsonl:{path}", path, chunk_records=500)
    records = [r for b in source.batches(None) for r in b.records]
    expected = zlib.decompressobj(wbits=31).decompress(cut)
    assert len(records) == expected.count(b"\n")
    assert source.stats.unreadable_bytes == len(expected) - expected.rfind(b"\n") - 1  # the cut line
    assert source.stats.damage is not None and "truncated gzip" in source.stats.damage
    assert source.next_cursor() is None


@pytest.mark.parametrize(("statuses", "transient", "verdict"), [
    (["failed", "failed"], [False, True], "bad input"),  # one failed for good: a retry cannot fix the run
    (["failed", "skipped"], [True, False], "bad input"),  # a skipped repository will not come back either
    (["failed", "failed"], [True, True], "transient"),  # every source gave up on a server: a later run may pass
    (["failed", "partial"], [False, False], None),  # the partial one kept its records: a partial success
    (["failed", "unchanged"], [False, False], None),  # nothing new is not a failure
    (["skipped"], [False], None),  # only skipped (GitHub no longer serves it): skipped, as everywhere
    ([], [], None),
])
def test_the_stage_fails_only_when_no_source_went_through(
    statuses: list[str], transient: list[bool], verdict: str | None
) -> None:
    from commitlake.errors import EXIT_BAD_INPUT, EXIT_TRANSIENT, exit_code
    from commitlake.stages import StageResult
    from commitlake.stages.ingest import nothing_ingested

    outcomes = [{"uri": f"git:/r{i}", "repo": f"r{i}", "status": status, "reason": f"git:/r{i}: why {i}",
                 "transient": flag} for i, (status, flag) in enumerate(zip(statuses, transient, strict=True))]
    error = nothing_ingested(StageResult("", {}, {"repositories": outcomes}))
    if verdict is None:
        assert error is None
        return
    assert error is not None
    reasons = "; ".join(f"git:/r{i}: why {i}" for i in range(len(statuses)))
    assert str(error) == f"no source could be ingested: {reasons}"
    assert exit_code(error) == {"bad input": EXIT_BAD_INPUT, "transient": EXIT_TRANSIENT}[verdict]
