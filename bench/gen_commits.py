"""Scale the real histories in ../shared/data/commits to N commits: one `OWNER__REPO.jsonl.gz` per repository.

Replica 0 of each history is the shared file as is; replica k > 0 is a new repository `OWNER__NAME-rK` whose
every sha s (the commit's and its parents') becomes sha1(f"{k}:{s}"): unique across the whole set, and each
replica is still a consistent history. Messages, files, stats and dates stay real. Histories are taken in a
fixed order, cycling replicas until N commits; the last one is cut to its newest commits (its oldest parents
then point outside the set, as in a shallow clone). Deterministic: same N, same bytes.

    python bench/gen_commits.py 100000 /tmp/commits-100k   # prints the files written
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "commits"
# Every 40-hex sha in the record's identity fields: "sha":"..." (the commit, its parents, its tree).
_SHA = re.compile(rb'"sha":\s*"([0-9a-f]{40})"')

__all__ = ["generate", "replicas"]


def _histories(only: list[str] | None = None) -> list[tuple[str, list[bytes]]]:
    out = []
    for path in sorted(SHARED.glob("*.jsonl.gz")):
        if only is not None and path.name.removesuffix(".jsonl.gz") not in only:
            continue
        lines = [line for line in gzip.decompress(path.read_bytes()).split(b"\n") if line.strip()]
        out.append((path.name.removesuffix(".jsonl.gz"), lines))
    if not out:
        raise SystemExit(f"gen_commits: no histories found in {SHARED}")
    return out


def _remap(lines: list[bytes], replica: int) -> list[bytes]:
    mapping: dict[bytes, bytes] = {}

    def alter(match: re.Match[bytes]) -> bytes:
        sha = match.group(1)
        new = mapping.get(sha)
        if new is None:
            new = mapping[sha] = hashlib.sha1(b"%d:%s" % (replica, sha)).hexdigest().encode()
        return b'"sha":"' + new + b'"'

    return [_SHA.sub(alter, line) for line in lines]


def replicas(total: int, only: list[str] | None = None) -> Iterator[tuple[str, list[bytes]]]:
    """(file stem OWNER__NAME[-rK], lines) until `total` commits in all; `only`: these histories (stems)."""
    histories = _histories(only)
    produced, replica = 0, 0
    while produced < total:
        for stem, lines in histories:
            take = lines[: total - produced]
            yield (f"{stem}-r{replica}" if replica else stem), (_remap(take, replica) if replica else take)
            produced += len(take)
            if produced >= total:
                return
        replica += 1


def generate(total: int, out: Path, only: list[str] | None = None) -> list[Path]:
    """Write the files (gzip level 1: the bench times the pipeline, not the compression) and return them."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, lines in replicas(total, only):
        path = out / f"{stem}.jsonl.gz"
        data = b"\n".join(lines) + b"\n"
        path.write_bytes(gzip.compress(data, compresslevel=1, mtime=0))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", nargs="+", metavar="OWNER__REPO", help="use only these histories")
    args = parser.parse_args(argv)
    for path in generate(args.commits, args.out, args.only):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
