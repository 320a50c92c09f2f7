"""git: and jsonl: sources on real data: shapes, chunking, cursors and clear errors."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from pathlib import Path

import orjson
import pytest

from commitlake.errors import ConfigError, SourceError
from commitlake.sources import build_source, scheme_of
from commitlake.sources.base import Cursor
from commitlake.sources.git import GitSource, repo_from_remote
from commitlake.sources.jsonl import JsonlSource

ROOT = Path(__file__).resolve().parents[1]


def _shas(path: Path) -> list[str]:
    with gzip.open(path, "rb") as handle:
        return [orjson.loads(line)["sha"] for line in handle if line.strip()]


def test_jsonl_yields_every_record_in_chunks(shared_commits: Path) -> None:
    path = shared_commits / "commitizen__cz-cli.jsonl.gz"
    source = JsonlSource(f"jsonl:{path}", path, chunk_records=100)
    batches = list(source.batches(None))
    assert source.repo == "commitizen/cz-cli"
    assert [len(b.records) for b in batches][:3] == [100, 100, 100]
    assert [orjson.loads(r)["sha"] for b in batches for r in b.records] == _shas(path)


def test_jsonl_passes_each_line_on_as_the_file_has_it(tmp_path: Path, shared_commits: Path) -> None:
    """The lake gets the file's bytes, not a re-serialisation: spacing, key order, escapes and CRLF endings stay, so
    the raw layer is what was given (the loader and jsonb read them alike)."""
    from commitlake.stages.ingest import encode_batch

    with gzip.open(shared_commits / "commitizen__cz-cli.jsonl.gz", "rb") as handle:
        good = handle.readline().rstrip(b"\n")
    record = orjson.loads(good)
    spaced = json.dumps(record, indent=None, separators=(", ", ": "), ensure_ascii=True).encode()
    reordered = orjson.dumps(dict(reversed(list(record.items()))))
    escaped = good.replace(b'"message":"', b'"message":"caf\\u00e9 ', 1)
    crlf = good + b"\r"
    lines = [good, spaced, reordered, escaped, crlf]
    assert len(set(lines)) == 5 and all(orjson.loads(line) for line in lines)
    path = tmp_path / "octo__formats.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    source = JsonlSource(f"jsonl:{path}", path)
    (batch,) = list(source.batches(None))
    assert list(batch.records) == lines
    assert source.stats.rejected == 0
    assert gzip.decompress(encode_batch(batch.records)).split(b"\n") == [*lines, b""]


def test_jsonl_unchanged_file_costs_nothing(shared_commits: Path) -> None:
    path = shared_commits / "commitizen__cz-cli.jsonl.gz"
    source = JsonlSource(f"jsonl:{path}", path)
    list(source.batches(None))
    cursor = source.next_cursor()
    again = JsonlSource(f"jsonl:{path}", path)
    assert list(again.batches(cursor)) == [] and again.stats.not_modified == 1


def test_jsonl_keeps_unparseable_lines_for_quarantine(tmp_path: Path, shared_commits: Path) -> None:
    with gzip.open(shared_commits / "commitizen__cz-cli.jsonl.gz", "rb") as handle:
        good = handle.readline()
    path = tmp_path / "octo__broken.jsonl"
    path.write_bytes(good + b'{"sha": "truncated\n' + good)
    source = JsonlSource(f"jsonl:{path}", path)
    records = [r for b in source.batches(None) for r in b.records]
    assert records == [good.rstrip(b"\n"), b'{"sha": "truncated', good.rstrip(b"\n")]
    assert (source.stats.rejected, source.stats.unreadable_bytes, source.stats.damage) == (1, 0, None)


def test_jsonl_passes_invalid_utf8_on_byte_for_byte(tmp_path: Path, shared_commits: Path) -> None:
    """Not decoded with `replace` (which would load altered text): the lake gets the line as the file has it."""
    from commitlake.stages.ingest import encode_batch

    with gzip.open(shared_commits / "commitizen__cz-cli.jsonl.gz", "rb") as handle:
        good = handle.readline().rstrip(b"\n")
    latin1 = good.replace(b'"message":"', b'"message":"na\xefve ', 1)
    path = tmp_path / "octo__latin1.jsonl"
    path.write_bytes(good + b"\n" + latin1 + b"\n")
    source = JsonlSource(f"jsonl:{path}", path)
    (batch,) = list(source.batches(None))
    assert source.stats.rejected == 1
    assert gzip.decompress(encode_batch(batch.records)).split(b"\n") == [good, latin1, b""]


@pytest.mark.parametrize(
    ("name", "message"),
    [("no-owner.jsonl", "OWNER__REPO"), ("a__b.jsonl", "no such file")],
)
def test_jsonl_bad_paths_name_the_input(tmp_path: Path, name: str, message: str) -> None:
    if name == "no-owner.jsonl":
        (tmp_path / name).write_text("{}\n")
    with pytest.raises(SourceError, match=message) as info:
        JsonlSource(f"jsonl:{tmp_path / name}", tmp_path / name)
    assert name in str(info.value)


def test_jsonl_corrupt_gzip_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "a__b.jsonl.gz"
    path.write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(SourceError, match="cannot read"):
        list(JsonlSource(f"jsonl:{path}", path).batches(None))


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    repo = tmp_path / "proj"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "Dev")
    (repo / "a.py").write_text("print(1)\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "feat: first\n\nbody line")
    (repo / "a.py").write_text("print(2)\nprint(3)\n")
    (repo / "README.md").write_text("# x\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "docs: readme")
    _git(repo, "remote", "add", "origin", "git@github.com:octo/proj.git")
    return repo


def test_git_source_shapes_commits_like_the_api(clone: Path) -> None:
    source = GitSource(f"git:{clone}", clone)
    records = [r for b in source.batches(None) for r in b.records]
    assert source.repo == "octo/proj"
    assert [r["commit"]["message"] for r in records] == ["docs: readme", "feat: first\n\nbody line"]
    newest = records[0]
    assert {f["filename"]: (f["status"], f["additions"], f["deletions"]) for f in newest["files"]} == {
        "README.md": ("added", 1, 0),
        "a.py": ("modified", 2, 1),
    }
    assert newest["stats"] == {"additions": 3, "deletions": 1, "total": 4}
    assert newest["parents"][0]["sha"] == records[1]["sha"]
    assert newest["commit"]["author"]["email"] == "dev@example.com"


def test_git_cursor_reads_only_new_commits(clone: Path) -> None:
    source = GitSource(f"git:{clone}", clone)
    list(source.batches(None))
    cursor = source.next_cursor()
    assert list(GitSource(f"git:{clone}", clone).batches(cursor)) == []
    (clone / "b.py").write_text("x = 1\n")
    _git(clone, "add", ".")
    _git(clone, "commit", "-q", "-m", "fix: new")
    newer = [r for b in GitSource(f"git:{clone}", clone).batches(cursor) for r in b.records]
    assert [r["commit"]["message"] for r in newer] == ["fix: new"]


def test_git_not_a_clone_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a readable git clone"):
        GitSource(f"git:{tmp_path}", tmp_path)
    with pytest.raises(SourceError, match="no such directory"):
        GitSource(f"git:{tmp_path}/missing", tmp_path / "missing")


def test_repo_from_remote() -> None:
    assert repo_from_remote("https://github.com/pallets/flask.git", Path("x")) == "pallets/flask"
    assert repo_from_remote("git@github.com:pallets/click", Path("x")) == "pallets/click"
    assert repo_from_remote(None, Path("/tmp/checkout")) == "local/checkout"


@pytest.mark.parametrize("uri", ["foo:bar", "jsonl:", "nothing", "https://github.com/a/b"])
def test_bad_uris_are_config_errors(uri: str) -> None:
    with pytest.raises(ConfigError, match="bad source URI"):
        scheme_of(uri)
    with pytest.raises(ConfigError):
        build_source(uri)


def test_cursor_is_a_value() -> None:
    assert Cursor() == Cursor(None, None)


def _shortstat(repo: Path, sha: str) -> tuple[int, int]:
    """Insertions and deletions as `git show --stat` counts them (renames detected, merges vs first parent)."""
    out = subprocess.run(
        ["git", "-C", str(repo), "show", "--shortstat", "--find-renames", "--diff-merges=first-parent", "--format=",
         sha], check=True, capture_output=True, text=True,
    ).stdout
    insertions = re.search(r"(\d+) insertions?\(\+\)", out)
    deletions = re.search(r"(\d+) deletions?\(-\)", out)
    return (int(insertions[1]) if insertions else 0, int(deletions[1]) if deletions else 0)


@pytest.fixture
def renames(tmp_path: Path) -> Path:
    """A clone whose history moves real files (this project's own sources) the way refactors do."""
    repo = tmp_path / "moves"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "Dev")
    sources = ROOT / "src" / "commitlake" / "sources"
    (repo / "pkg").mkdir()
    for name in ("git.py", "jsonl.py", "base.py"):
        (repo / "pkg" / name).write_text((sources / name).read_text())
    (repo / "odd name.md").write_text("# notes\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "feat: sources")
    _git(repo, "mv", "pkg/jsonl.py", "pkg/lines.py")  # a rename with edits
    lines = (repo / "pkg" / "lines.py").read_text().splitlines(keepends=True)
    lines[0] = '"""Renamed module."""\n'
    lines.insert(5, "# one more line\n")
    (repo / "pkg" / "lines.py").write_text("".join(lines))
    _git(repo, "rm", "-q", "odd name.md")
    (repo / "pkg" / "git.py").write_text((repo / "pkg" / "git.py").read_text() + "# tail\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "refactor: rename jsonl to lines")
    _git(repo, "checkout", "-q", "-b", "topic")
    _git(repo, "mv", "pkg/base.py", "pkg/protocol.py")  # a pure rename, merged in
    _git(repo, "commit", "-q", "-m", "refactor: base is the protocol")
    _git(repo, "checkout", "-q", "main")
    _git(repo, "merge", "-q", "--no-ff", "-m", "Merge branch 'topic'", "topic")
    return repo


def test_git_source_reports_renames_like_github(renames: Path) -> None:
    records = [r for b in GitSource(f"git:{renames}", renames).batches(None) for r in b.records]
    by_message = {r["commit"]["message"]: r for r in records}
    moved = {f["filename"]: f for f in by_message["refactor: rename jsonl to lines"]["files"]}
    assert set(moved) == {"pkg/lines.py", "odd name.md", "pkg/git.py"}
    assert moved["pkg/lines.py"]["status"] == "renamed"
    assert moved["pkg/lines.py"]["previous_filename"] == "pkg/jsonl.py"
    assert (moved["pkg/lines.py"]["additions"], moved["pkg/lines.py"]["deletions"]) == (2, 1)  # the edits only
    assert moved["odd name.md"]["status"] == "removed" and "previous_filename" not in moved["odd name.md"]
    assert moved["pkg/git.py"]["status"] == "modified"
    merge = by_message["Merge branch 'topic'"]
    assert [(f["filename"], f["status"], f.get("previous_filename"), f["changes"]) for f in merge["files"]] == [
        ("pkg/protocol.py", "renamed", "pkg/base.py", 0)
    ]
    for record in records:  # totals agree with `git show --stat` on every commit, merges included
        stats = record["stats"]
        assert (stats["additions"], stats["deletions"]) == _shortstat(renames, record["sha"]), record["sha"]


def test_git_source_agrees_with_git_show_on_this_clone() -> None:
    """This project's own history: every commit's totals equal `git show --stat`'s."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git clone")
    records = [r for b in GitSource(f"git:{ROOT}", ROOT).batches(None) for r in b.records]
    assert records
    for record in records[:200]:
        stats = record["stats"]
        assert (stats["additions"], stats["deletions"]) == _shortstat(ROOT, record["sha"]), record["sha"]
