"""The lake: the same interface over a directory and over S3 (moto's server over HTTP, path-style)."""

from __future__ import annotations

import gzip
from pathlib import Path

import boto3
import pytest

from commitlake.errors import EXIT_BAD_INPUT, EXIT_TRANSIENT, LakeError, exit_code
from commitlake.lake import LocalLake, Manifest, ManifestObject, S3Lake, manifest_key, open_lake, part_key, run_prefix


@pytest.fixture
def s3_lake(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Lake:
    import uuid

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    lake = open_lake(f"s3://{bucket}/prefix", endpoint_url=s3_endpoint)
    assert isinstance(lake, S3Lake)
    return lake


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> LocalLake | S3Lake:
    if request.param == "local":
        return LocalLake(tmp_path / "lake")
    s3: S3Lake = request.getfixturevalue("s3_lake")
    return s3


def test_put_get_list_roundtrip(lake: LocalLake | S3Lake) -> None:
    from datetime import date

    prefix = run_prefix("github", "octo/cat", date(2026, 11, 25), "r1")
    assert prefix == "raw/github/commits/repo=octo__cat/ingest_date=2026-11-25/run_id=r1/"
    data = gzip.compress(b'{"sha": "a"}\n')
    lake.put_bytes(part_key(prefix, 0), data)
    lake.put_bytes(part_key(prefix, 1), data)
    assert lake.get_bytes(part_key(prefix, 0)) == data
    assert list(lake.list_keys("raw/github/")) == [part_key(prefix, 0), part_key(prefix, 1)]
    assert lake.exists(part_key(prefix, 1)) and not lake.exists(part_key(prefix, 2))


def test_objects_are_immutable(lake: LocalLake | S3Lake) -> None:
    lake.put_bytes("raw/x/part-00000.jsonl.gz", b"one")
    lake.put_bytes("raw/x/part-00000.jsonl.gz", b"one")  # the same bytes again: a no-op
    with pytest.raises(LakeError, match="immutable"):
        lake.put_bytes("raw/x/part-00000.jsonl.gz", b"two")
    assert lake.get_bytes("raw/x/part-00000.jsonl.gz") == b"one"


def test_uncommitted_objects_can_be_replaced(lake: LocalLake | S3Lake) -> None:
    lake.put_bytes("raw/y/part-00000.jsonl.gz", b"attempt 1")
    lake.put_bytes("raw/y/part-00000.jsonl.gz", b"attempt 2", replace=True)
    assert lake.get_bytes("raw/y/part-00000.jsonl.gz") == b"attempt 2"


def test_manifest_roundtrip(lake: LocalLake | S3Lake) -> None:
    manifest = Manifest("r1", "jsonl:/x/a__b.jsonl", "jsonl", "a/b", None, "t0", "t1",
                        [ManifestObject("k", 3, "00", 10)], {"requests": 0})
    lake.put_bytes(manifest_key("raw/p/"), manifest.to_bytes())
    again = Manifest.from_bytes(lake.get_bytes(manifest_key("raw/p/")))
    assert again == manifest and again.records == 3


def test_missing_object_is_a_clear_error(lake: LocalLake | S3Lake) -> None:
    with pytest.raises(LakeError, match="nothing-here"):
        lake.get_bytes("raw/nothing-here.jsonl.gz")


def test_bad_lake_uri_is_rejected_as_bad_input_not_retried() -> None:
    with pytest.raises(LakeError, match="unsupported lake URI") as unsupported:
        open_lake("ftp://host/dir")
    with pytest.raises(LakeError, match="names no bucket") as no_bucket:
        open_lake("s3:///prefix")
    # a retry cannot fix a setting: exit 1 at once, where the runner would back off three times on 75
    assert [exit_code(e.value) for e in (unsupported, no_bucket)] == [EXIT_BAD_INPUT, EXIT_BAD_INPUT]


def test_local_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="invalid lake key") as escaped:
        LocalLake(tmp_path).put_bytes("../outside", b"x")
    assert exit_code(escaped.value) == EXIT_BAD_INPUT


def test_a_failing_store_stays_transient(tmp_path: Path) -> None:
    (tmp_path / "raw").write_text("a file where the lake wants a directory")
    with pytest.raises(LakeError, match="cannot write") as failed:
        LocalLake(tmp_path).put_bytes("raw/x.jsonl.gz", b"x")
    assert exit_code(failed.value) == EXIT_TRANSIENT


def test_each_branch_has_its_own_prefix() -> None:
    from datetime import date

    day = date(2026, 11, 30)
    default = run_prefix("github", "octo/cat", day, "r1")
    branches = ["main", "dev", "release/1.x", "a.b", "a%2Eb"]
    prefixes = {b: run_prefix("github", "octo/cat", day, "r1", b) for b in branches}
    assert len({default, *prefixes.values()}) == 6  # one run, six sources, no shared key
    assert prefixes["release/1.x"] == (
        "raw/github/commits/repo=octo__cat/branch=release%2F1%2Ex/ingest_date=2026-11-30/run_id=r1/"
    )
    for prefix in prefixes.values():
        segment = prefix.split("/")[4]
        assert segment.startswith("branch=") and ".." not in prefix and "//" not in prefix
