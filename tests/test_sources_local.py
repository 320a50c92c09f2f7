"""git: and jsonl: sources on real data: shapes, chunking, cursors and clear errors."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import orjson
import pytest

from commitlake.errors import ConfigError, SourceError
from commitlake.sources import build_source, scheme_of
from commitlake.sources.base import Cursor
from commitlake.sources.git import GitSource, repo_from_remote
from commitlake.sources.jsonl import JsonlSource


def _shas(path: Path) -> list[str]:
    with gzip.open(path, "rb") as handle:
        return [orjson.loads(line)["sha"] for line in handle if line.strip()]


def test_jsonl_yields_every_record_in_chunks(shared_commits: Path) -> None:
    path = shared_commits / "commitizen__cz-cli.jsonl.gz"
    source = JsonlSource(f"jsonl:{path}", path, chunk_records=100)
    batches = list(source.batches(None))
    assert source.repo == "commitizen/cz-cli"
    assert [len(b.records) for b in batches][:3] == [100, 100, 100]
    assert [r["sha"] for b in batches for r in b.records] == _shas(path)


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
    assert len(records) == 3
    assert records[1] == {"_unparsed": '{"sha": "truncated', "_line": 2}
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
