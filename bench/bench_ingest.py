"""Ingest benchmark: commits/s from the fake GitHub and from `jsonl:`, requests per commit, peak RSS.

Each measurement runs in a child process (the fake server stays in this one), so the child's peak RSS is the
ingester's alone. 30k = ten real histories; 300k = a real history cycled with altered shas. Flat memory
means the 300k peak is about the 30k peak. Writes bench/results/ingest.json and ingest.png.

    python bench/bench_ingest.py            (make bench)
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

SLUGS = [
    "typescript-eslint__typescript-eslint", "conventional-changelog__conventional-changelog",
    "conventional-changelog__commitlint", "commitizen__cz-cli", "ngrx__platform", "open-telemetry__opentelemetry-js",
    "googleapis__release-please", "semantic-release__semantic-release", "pallets__flask", "pallets__click",
]
RESULTS = ROOT / "bench" / "results"


def child(kind: str, target: str, uris: list[str]) -> None:
    """Drain the sources, keep nothing, print what it cost."""
    from commitlake.sources import build_source
    from commitlake.sources.github import GitHubClient

    client = GitHubClient(target, None) if kind == "github" else None
    start = time.perf_counter()

    def one(uri: str) -> int:
        source = build_source(uri, github_client=client)
        return sum(len(batch.records) for batch in source.batches(None))

    with ThreadPoolExecutor(max_workers=4) as pool:
        commits = sum(pool.map(one, uris))
    seconds = time.perf_counter() - start
    print(json.dumps({
        "commits": commits, "seconds": seconds, "requests": client.stats.requests if client else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def measure(kind: str, target: str, uris: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, target, *uris], check=True,
                         capture_output=True, text=True, env={**os.environ, "COMMITLAKE_LOG_LEVEL": "ERROR"})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["commits_per_second"] = round(result["commits"] / result["seconds"])
    if result["requests"]:
        result["requests_per_commit"] = round(result["requests"] / result["commits"], 4)
    return result


def write_jsonl(path: Path, history, total: int) -> None:
    with gzip.open(path, "wb", compresslevel=1) as handle:
        for index in range(total):
            handle.write(history.list_item(index) + b"\n")


def main() -> None:
    from fake_github import COMMITS_DIR, CycledHistory, FakeGitHub, load_history

    results: dict[str, dict] = {}
    with FakeGitHub() as gh, tempfile.TemporaryDirectory() as tmp:
        for slug in SLUGS:
            gh.add_repo(f"bench/{slug}", load_history(slug))
        big = CycledHistory(load_history("vitejs__vite"), 300_000)
        gh.add_repo("bench/big", big)
        small_uris = [f"github:bench/{slug}" for slug in SLUGS]
        results["github_30k"] = measure("github", gh.url, small_uris)
        results["github_300k"] = measure("github", gh.url, ["github:bench/big"])
        results["jsonl_30k"] = measure("jsonl", "", [f"jsonl:{COMMITS_DIR / slug}.jsonl.gz" for slug in SLUGS])
        big_file = Path(tmp) / "bench__big.jsonl.gz"
        write_jsonl(big_file, big, 300_000)
        results["jsonl_300k"] = measure("jsonl", "", [f"jsonl:{big_file}"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results)
    for name, result in results.items():
        print(f"{name:12s} {result['commits']:>7d} commits  {result['commits_per_second']:>7d}/s  "
              f"peak RSS {result['peak_rss_mb']:.0f} MB  requests/commit {result.get('requests_per_commit', '-')}")


def plot(results: dict[str, dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, (rate, rss) = plt.subplots(1, 2, figsize=(10, 4))
    rate.bar(names, [results[n]["commits_per_second"] for n in names], color="tab:blue")
    rate.set_title("commits per second")
    rss.bar(names, [results[n]["peak_rss_mb"] for n in names], color="tab:orange")
    rss.set_title("peak RSS of the ingesting process (MB)")
    for axis in (rate, rss):
        axis.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    fig.savefig(RESULTS / "ingest.png", dpi=100)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        main()
