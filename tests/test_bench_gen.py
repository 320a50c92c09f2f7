"""bench/gen_commits.py: N commits with unique shas, parents remapped consistently, real content kept."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from gen_commits import generate  # noqa: E402

STEMS = ["commitizen__cz-cli", "conventional-changelog__conventional-changelog"]  # 396 + 1907 commits


def _read(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path) as handle:
        return [orjson.loads(line) for line in handle if line.strip()]


def test_scaled_set_is_unique_consistent_and_real(tmp_path: Path, shared_commits: Path) -> None:
    originals = {stem: _read(shared_commits / f"{stem}.jsonl.gz") for stem in STEMS}
    total = sum(len(v) for v in originals.values()) * 2 + 100  # replicas 0 and 1 of both, a cut replica 2
    files = generate(total, tmp_path, STEMS)
    assert [p.name for p in files] == [f"{s}{r}.jsonl.gz" for r in ("", "-r1", "-r2") for s in STEMS][:5]
    records = {p.name.removesuffix(".jsonl.gz"): _read(p) for p in files}
    shas = [r["sha"] for rs in records.values() for r in rs]
    assert len(shas) == total == len(set(shas))
    assert len(records[f"{STEMS[0]}-r2"]) == 100  # the last history is cut to its newest commits
    for stem in STEMS:
        original, copy = originals[stem], records[f"{stem}-r1"]
        assert len(copy) == len(original)
        old_shas, own = {r["sha"] for r in original}, {r["sha"] for r in copy}
        assert not own & old_shas, "replica shas must differ from the original's"
        parents = [p["sha"] for r in copy for p in r["parents"]]
        old_parents = [p["sha"] for r in original for p in r["parents"]]
        # a parent inside the original history maps to a commit inside the replica, never to the original
        assert sum(p in own for p in parents) == sum(p in old_shas for p in old_parents) > 0
        assert not set(parents) & old_shas
        for new, old in zip(copy, original, strict=True):
            assert new["commit"]["message"] == old["commit"]["message"]
            assert new["commit"]["author"]["date"] == old["commit"]["author"]["date"]
            assert new.get("files") == old.get("files") and new.get("stats") == old.get("stats")
    assert generate(total, tmp_path / "again", STEMS)[2].read_bytes() == files[2].read_bytes()  # deterministic
