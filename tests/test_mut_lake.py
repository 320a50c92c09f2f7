"""The lake's exact contract: which keys are legal, what `list_keys` returns for every kind of prefix (and
what it hides), how each URI form opens, the layout's key shapes and the manifest round trip. Local checks run
first (no server) so `make mutation` stops early; the S3 ones run against moto's server, as test_lake.py does."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import boto3
import pytest

from commitlake.errors import LakeError
from commitlake.lake import (
    Manifest,
    ManifestObject,
    S3Lake,
    branch_segment,
    manifest_key,
    open_lake,
    part_key,
    repo_slug,
    run_prefix,
)
from commitlake.lake.store import LocalLake

KEYS = ["raw/a/x/part-00000.jsonl.gz", "raw/a/x/part-00001.jsonl.gz", "raw/ab/y.json", "raw/b/z.json", "top.json"]


def test_layout_key_shapes() -> None:
    assert repo_slug("octo/cat") == "octo__cat"
    assert branch_segment("feat/a.b~c d") == "feat%2Fa%2Eb%7Ec%20d"
    assert branch_segment("my-branch_1") == "my-branch_1"
    prefix = run_prefix("jsonl", "o/r", date(2026, 1, 2), "R", "dev")
    assert prefix == "raw/jsonl/commits/repo=o__r/branch=dev/ingest_date=2026-01-02/run_id=R/"
    assert run_prefix("jsonl", "o/r", date(2026, 1, 2), "R", "") == (
        "raw/jsonl/commits/repo=o__r/ingest_date=2026-01-02/run_id=R/"
    )
    assert part_key("p/", 7) == "p/part-00007.jsonl.gz"
    assert part_key("p/", 123456) == "p/part-123456.jsonl.gz"
    assert manifest_key("p/") == "p/_manifest.json"


def test_manifest_roundtrip_and_record_count() -> None:
    manifest = Manifest(
        "r1",
        "jsonl:/x",
        "jsonl",
        "a/b",
        "dev",
        "t0",
        "t1",
        [ManifestObject("k1", 3, "00", 10, {"first": 1}), ManifestObject("k2", 4, "11", 20)],
        {"requests": 2},
        {"since": "x"},
    )
    assert manifest.records == 7
    data = manifest.to_bytes()
    assert data.startswith(b"{\n  ")  # indented: a person reads manifests
    assert Manifest.from_bytes(data) == manifest
    assert Manifest("r", "u", "k", "o/r", None, "a", "b").records == 0
    bare = Manifest.from_bytes(
        b'{"run_id": "r", "source_uri": "u", "source_kind": "k", "repo": "o/r",'
        b' "branch": null, "started_at": "a", "finished_at": "b"}'
    )
    assert bare.objects == [] and bare.stats == {} and bare.cursor == {}


def _fill(lake: LocalLake | S3Lake) -> None:
    for key in KEYS:
        lake.put_bytes(key, key.encode())


def test_local_keys(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    assert lake.uri == (tmp_path / "lake").as_uri()
    for bad in ("/abs", "..", "a/../b", "a/.."):
        with pytest.raises(LakeError, match="invalid lake key"):
            lake.put_bytes(bad, b"x")
    lake.put_bytes("a..b/c..", b"dots inside a name are fine")
    assert lake.get_bytes("a..b/c..") == b"dots inside a name are fine"
    assert lake.exists("a..b/c..") and not lake.exists("a..b") and not lake.exists("nope")


def test_local_listing(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    assert list(lake.list_keys("raw/")) == []  # no root yet
    _fill(lake)
    (tmp_path / "lake" / "raw" / "a" / "x" / ".tmp-123.part").write_bytes(b"half written")
    assert list(lake.list_keys("")) == sorted(KEYS)
    assert list(lake.list_keys("raw/a/")) == KEYS[:2]
    assert list(lake.list_keys("raw/a/x/part-00001")) == KEYS[1:2]  # a partial name
    assert list(lake.list_keys("raw/a")) == KEYS[:3]  # a prefix, not a folder: raw/ab/ too, as S3 lists it
    assert list(lake.list_keys("raw/b")) == KEYS[3:4]  # a partial segment (no folder raw/b... but raw/b is one)
    assert list(lake.list_keys("to")) == KEYS[4:]
    assert list(lake.list_keys("raw/c/")) == []
    assert list(lake.list_keys("zzz/q/")) == []


def test_local_rewrite_rules(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    lake.put_bytes("k", b"one")
    lake.put_bytes("k", b"one")
    with pytest.raises(LakeError, match=r"/k already exists with other content; lake objects are immutable"):
        lake.put_bytes("k", b"two")
    lake.put_bytes("k", b"two", replace=True)
    assert lake.get_bytes("k") == b"two"
    assert not [p for p in (tmp_path / "lake").iterdir() if p.name.startswith(".tmp-")]  # no temp files left


def test_local_io_errors_are_lake_errors(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    lake.put_bytes("file", b"x")
    with pytest.raises(LakeError, match=r"^cannot write /.*/lake/file/under: File exists$"):
        lake.put_bytes("file/under", b"y")  # a file where a folder should be
    with pytest.raises(LakeError, match=r"cannot read file://.*/lake/missing: No such file or directory"):
        lake.get_bytes("missing")


def test_open_lake_forms(tmp_path: Path) -> None:
    plain = open_lake(str(tmp_path / "d"))
    assert isinstance(plain, LocalLake) and plain.root == tmp_path / "d"
    literal = open_lake(str(tmp_path / "x%20y#z"))  # a plain path is taken as it is, not URL-decoded
    assert isinstance(literal, LocalLake) and literal.root == tmp_path / "x%20y#z"
    spaced = open_lake((tmp_path / "a b").as_uri())
    assert isinstance(spaced, LocalLake) and spaced.root == tmp_path / "a b"
    s3 = open_lake("s3://bucket/some/prefix/")
    assert isinstance(s3, S3Lake)
    assert (s3.bucket, s3.prefix, s3.uri) == ("bucket", "some/prefix", "s3://bucket/some/prefix")
    bare = open_lake("s3://bucket")
    assert isinstance(bare, S3Lake) and (bare.prefix, bare.uri) == ("", "s3://bucket")
    with pytest.raises(LakeError, match=r"^lake URI 's3:///p' names no bucket"):
        open_lake("s3:///p")
    for other in ("gs://b/p", "sftp://host/dir", "swift://c/p"):  # sorting before and after "s3"
        with pytest.raises(LakeError, match=f"^unsupported lake URI '{other}'"):
            open_lake(other)


def test_flags_are_keyword_only(tmp_path: Path) -> None:
    """`put_bytes(k, d, True)` would hide which flag is set; the signatures make it a TypeError."""
    lake = LocalLake(tmp_path)
    with pytest.raises(TypeError):
        lake.put_bytes("k", b"x", True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        open_lake("s3://b/p", "http://127.0.0.1:9")  # type: ignore[misc]
    assert not lake.exists("k")


@pytest.mark.parametrize("prefix", ["pre/fix", ""])
def test_s3_keys_and_listing(s3_endpoint: str, prefix: str) -> None:
    bucket = f"mut-{len(prefix)}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    lake = open_lake(f"s3://{bucket}/{prefix}", endpoint_url=s3_endpoint)
    assert isinstance(lake, S3Lake)
    _fill(lake)
    stored = sorted(
        o["Key"] for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    )
    assert stored == sorted(f"{prefix}/{k}" if prefix else k for k in KEYS)
    assert list(lake.list_keys("")) == sorted(KEYS)
    assert list(lake.list_keys("raw/a")) == KEYS[:3]
    assert list(lake.list_keys("raw/c/")) == []
    assert lake.exists("top.json") and not lake.exists("top")
    lake.put_bytes("top.json", b"top.json")
    with pytest.raises(LakeError, match=f"^s3://{bucket}.*/top.json already exists with other content"):
        lake.put_bytes("top.json", b"else")
    lake.put_bytes("top.json", b"else", replace=True)
    assert lake.get_bytes("top.json") == b"else"
    with pytest.raises(LakeError, match=f"^cannot read s3://{bucket}.*/nothing: "):
        lake.get_bytes("nothing")


def test_s3_errors_name_the_action(s3_endpoint: str) -> None:
    lake = open_lake("s3://no-such-bucket/p", endpoint_url=s3_endpoint)
    with pytest.raises(LakeError, match=r"^cannot write s3://no-such-bucket/p/k: "):
        lake.put_bytes("k", b"x", replace=True)
    with pytest.raises(LakeError, match=r"^cannot list s3://no-such-bucket/p/raw/: "):
        list(lake.list_keys("raw/"))
    assert not lake.exists("k")  # a missing bucket answers 404 too: nothing there
    unreachable = open_lake("s3://b/p", endpoint_url="http://127.0.0.1:9")
    assert isinstance(unreachable, S3Lake)
    unreachable._s3.meta.config.retries = {"max_attempts": 0}
    with pytest.raises(LakeError, match=r"^cannot stat s3://b/p/k: "):
        unreachable.exists("k")


def test_a_relative_lake_directory_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lake = open_lake("rel/dir")
    assert isinstance(lake, LocalLake) and lake.root == tmp_path / "rel" / "dir"
    lake.put_bytes("k", b"v")
    assert (tmp_path / "rel" / "dir" / "k").read_bytes() == b"v"
