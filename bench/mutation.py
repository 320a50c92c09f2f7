"""`make mutation`: cosmic-ray over the core modules, each against the tests that claim to guard it.

Not part of CI (hours on two cores). Cosmic-ray mutates the file on disk, so tests that start the product in a
subprocess (the crash tests, the fake-GitHub ones) run the mutant too. It works on a copy of the tree under a
temporary directory (PYTHONPATH puts the copy's `src` first), never on this checkout, and shares one embedded
Postgres between all mutants (COMMITLAKE_TEST_DATABASE_URL, as tests/conftest.py reads it).

Per module: killed / survived / incompetent (a mutant that does not import or times out counts as killed by
cosmic-ray's rules only when the tests fail; a timeout is reported apart), the score, and every survivor with
its diff, in bench/results/mutation.json. A survivor is either a missing test or a harmless mutant; the
README's table says which.

    python bench/mutation.py [--modules ratelimit quarantine ...] [--timeout 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "mutation.json"
BIN = Path(sys.executable).parent

#: module name -> (file under src/commitlake, the tests that guard it)
MODULES: dict[str, tuple[str, list[str]]] = {
    "ratelimit": ("sources/github/_ratelimit.py", ["tests/test_github_waits.py", "tests/test_github_client.py"]),
    "github_client": ("sources/github/_client.py", ["tests/test_github_client.py", "tests/test_github_waits.py"]),
    "quarantine": ("warehouse/quarantine.py", ["tests/test_quarantine.py", "tests/test_boundaries.py"]),
    "loader": ("warehouse/load.py", ["tests/test_load.py", "tests/test_faults.py"]),
    "lake": ("lake/store.py", ["tests/test_lake.py", "tests/test_faults.py"]),
    "lake_layout": ("lake/layout.py", ["tests/test_lake.py", "tests/test_faults.py"]),
    "gate": ("quality/_report.py", ["tests/test_quality.py"]),
    "promotion": ("ml/_registry.py", ["tests/test_ml.py"]),
}


def _copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def _config(path: Path, module: str, tests: list[str], timeout: float) -> None:
    command = f"{BIN / 'python'} -m pytest -x -q -p no:cacheprovider -m 'not docker and not slow' {' '.join(tests)}"
    path.write_text(
        "[cosmic-ray]\n"
        f'module-path = "src/commitlake/{module}"\n'
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{command}"\n\n'
        '[cosmic-ray.distributor]\nname = "local"\n'
    )


def _summary(session: Path) -> dict[str, Any]:
    with sqlite3.connect(f"file:{session}?mode=ro", uri=True) as db:
        total = db.execute("select count(*) from mutation_specs").fetchone()[0]
        rows = db.execute(
            "select m.module_path, m.operator_name, m.occurrence, m.start_pos_row, r.test_outcome, r.worker_outcome,"
            " r.diff from mutation_specs m join work_results r on r.job_id = m.job_id"
        ).fetchall()
    counts: dict[str, int] = {"killed": 0, "survived": 0, "incompetent": 0, "timeout": 0, "other": 0}
    survivors = []
    for _path, operator, occurrence, line, test_raw, worker_raw, diff in rows:
        # SQLAlchemy stores the enum member's name (KILLED), older sessions its value (killed)
        test_outcome, worker_outcome = str(test_raw or "").lower(), str(worker_raw or "").lower()
        if worker_outcome == "timeout":
            counts["timeout"] += 1
        elif test_outcome == "killed":
            counts["killed"] += 1
        elif test_outcome == "survived":
            counts["survived"] += 1
            survivors.append({"line": line, "operator": operator, "occurrence": occurrence, "diff": diff})
        elif test_outcome == "incompetent":
            counts["incompetent"] += 1
        else:
            counts["other"] += 1
    judged = counts["killed"] + counts["survived"] + counts["timeout"]
    score = round((counts["killed"] + counts["timeout"]) / judged, 4) if judged else None
    return {"mutants": total, "tested": len(rows), "complete": len(rows) == total, **counts, "score": score,
            "survivors": sorted(survivors, key=lambda s: s["line"])}


def _record(name: str, summary: dict[str, Any]) -> None:
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[name] = summary
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{name}: {summary['killed']} killed, {summary['survived']} survived, {summary['timeout']} timeouts"
          f" of {summary['tested']} tested ({summary['mutants']} in all): score {summary['score']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", choices=sorted(MODULES), default=sorted(MODULES))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant's test run")
    parser.add_argument("--summarize", nargs=2, metavar=("MODULE", "SESSION"),
                        help="only record an existing (possibly unfinished) cosmic-ray session's results")
    args = parser.parse_args(argv)
    if args.summarize:
        name, session = args.summarize
        _record(name, _summary(Path(session)) | {"module": f"src/commitlake/{MODULES[name][0]}",
                                                 "tests": MODULES[name][1]})
        return 0
    sys.path.insert(0, str(ROOT / "src"))
    from commitlake.warehouse.embedded import EmbeddedPostgres

    work = Path(tempfile.mkdtemp(prefix="commitlake-mutation-"))
    server = EmbeddedPostgres(work / "postgres")
    try:
        server.ensure_running()
        tree = work / "tree"
        _copy_tree(tree)
        (work / "shared").symlink_to(ROOT.parent / "shared")  # tests read ../shared next to the tree
        env = {**os.environ, "PYTHONPATH": str(tree / "src"),
               "COMMITLAKE_TEST_DATABASE_URL": server.url("postgres", "postgres")}
        for name in args.modules:
            module, tests = MODULES[name]
            cfg, session = work / f"{name}.toml", work / f"{name}.sqlite"
            _config(cfg, module, tests, args.timeout)
            started = time.monotonic()
            for step in (["init", str(cfg), str(session)], ["baseline", str(cfg)], ["exec", str(cfg), str(session)]):
                done = subprocess.run([str(BIN / "cosmic-ray"), *step], cwd=tree, env=env,
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"cosmic-ray {step[0]} failed for {name}: {(done.stdout + done.stderr)[-2000:]}")
            summary = _summary(session)
            summary.update(module=f"src/commitlake/{module}", tests=tests, seconds=round(time.monotonic() - started))
            _record(name, summary)
    finally:
        server.destroy()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
