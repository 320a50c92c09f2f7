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
import ast
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "mutation.json"
BIN = Path(sys.executable).parent

HARMLESS = ROOT / "bench" / "mutation_harmless.toml"


@dataclass(frozen=True)
class Target:
    """One module under mutation: its file, the fastest tests that guard it, and (optionally) the only
    top-level functions/classes whose mutants count (the rest of the file is someone else's concern)."""

    path: str
    tests: list[str]
    only: tuple[str, ...] = ()


#: module name -> what to mutate and which tests must kill it (fast, `-x`, pure tests first)
MODULES: dict[str, Target] = {
    "ratelimit": Target("sources/github/_ratelimit.py", ["tests/test_mut_ratelimit.py", "tests/test_github_waits.py"]),
    "github_client": Target(
        "sources/github/_client.py",
        ["tests/test_mut_client.py", "tests/test_github_client.py", "tests/test_github_waits.py"],
    ),
    "quarantine": Target(
        "warehouse/quarantine.py",
        [
            "tests/test_mut_quarantine.py",
            "tests/test_quarantine.py",
            "tests/test_boundaries.py::test_utc_offset_boundary",
            "tests/test_boundaries.py::test_malformed_offsets_are_invalid_dates",
            "tests/test_boundaries.py::test_what_the_fast_path_passes_on_postgres_reads_as_python_does",
        ],
    ),
    "loader": Target("warehouse/load.py", ["tests/test_mut_loader.py", "tests/test_load.py", "tests/test_faults.py"]),
    "lake": Target("lake/store.py", ["tests/test_mut_lake.py", "tests/test_lake.py"]),
    "lake_layout": Target("lake/layout.py", ["tests/test_mut_lake.py", "tests/test_lake.py"]),
    "gate": Target("quality/_report.py", ["tests/test_mut_gate.py"]),
    "promotion": Target(
        "ml/_registry.py",
        ["tests/test_mut_promotion.py"],
        only=("alias_version", "version_trained_on", "prune_versions", "logged_model_id", "embedded_artifact_root"),
    ),
}


def _copy_tree(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
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


def _in_annotation(tree: ast.Module, line: int, col: int) -> bool:
    """Whether (line, col) falls inside an annotation expression (exact span, not just the line)."""
    for node in ast.walk(tree):
        anns: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            anns = [
                node.returns,
                *(a.annotation for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]),
                *(a.annotation for a in (args.vararg, args.kwarg) if a is not None),
            ]
        elif isinstance(node, ast.AnnAssign):
            anns = [node.annotation]
        for ann in filter(None, anns):
            end_line, end_col = ann.end_lineno or ann.lineno, ann.end_col_offset or 0
            if (ann.lineno, ann.col_offset) <= (line, col) < (end_line, end_col):
                return True
    return False


def _spans(tree: ast.Module, names: tuple[str, ...]) -> list[tuple[int, int]]:
    """Line spans (decorators included) of the named top-level functions/classes."""
    spans = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name in names:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            spans.append((first, node.end_lineno or node.lineno))
    missing = set(names) - {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    if missing:
        raise SystemExit(f"bench/mutation.py: no top-level {sorted(missing)} in the mutated module")
    return spans


def _sampled(line: int, col: int, operator: str, occurrence: int, fraction: float) -> bool:
    """A deterministic sample: the same mutants are drawn on every run of the same code (no seed to forget)."""
    digest = hashlib.sha256(f"{line}:{col}:{operator}:{occurrence}".encode()).digest()
    return int.from_bytes(digest[:4], "big") < fraction * 2**32


def _filter(session: Path, source: Path, only: tuple[str, ...], sample: float = 1.0) -> None:
    """Mark as skipped (never run) the mutants outside `only`, those inside annotations and, with `sample`
    below 1, those not drawn, with the reason in the result's output, so the summary counts them apart
    instead of pretending they were killed."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    tree = ast.parse(source.read_text())
    spans = _spans(tree, only) if only else []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            mutation = item.mutations[0]
            (line, col) = mutation.start_pos
            if spans and not any(a <= line <= b for a, b in spans):
                reason = "out of scope: outside " + ", ".join(only)
            elif _in_annotation(tree, line, col):
                reason = "annotation: not evaluated at run time (from __future__ import annotations)"
            elif sample < 1 and not _sampled(line, col, mutation.operator_name, mutation.occurrence, sample):
                reason = f"not sampled: a deterministic {sample:.0%} sample of the module's mutants"
            else:
                continue
            db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=reason))


def _harmless(name: str) -> list[dict[str, Any]]:
    """Reviewed survivors of `name` from bench/mutation_harmless.toml: [[module]] line, operator, reason."""
    if not HARMLESS.is_file():
        return []
    entries: list[dict[str, Any]] = tomllib.loads(HARMLESS.read_text()).get(name, [])
    return entries


def _mutated_line(diff: str) -> str:
    """The mutant's changed source line, stripped: what a review entry names, whatever line it moved to."""
    added = (line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
    return next((line[1:].strip() for line in added), "")


def _match(entry: dict[str, Any], survivor: dict[str, Any]) -> bool:
    """An entry with `mutant` (the changed line's text) matches that mutant wherever the line has moved; an older
    entry without it matches line, operator and occurrence of the commit it was reviewed at."""
    if entry["operator"] != survivor["operator"]:
        return False
    if "mutant" in entry:
        return bool(entry["mutant"] == _mutated_line(survivor.get("diff") or ""))
    occurrence = entry.get("occurrence", survivor["occurrence"])
    return bool(entry["line"] == survivor["line"] and occurrence == survivor["occurrence"])


def _summary(session: Path, name: str) -> dict[str, Any]:
    with sqlite3.connect(f"file:{session}?mode=ro", uri=True) as db:
        total = db.execute("select count(*) from mutation_specs").fetchone()[0]
        rows = db.execute(
            "select m.module_path, m.operator_name, m.occurrence, m.start_pos_row, r.test_outcome, r.worker_outcome,"
            " r.diff, r.output from mutation_specs m join work_results r on r.job_id = m.job_id"
        ).fetchall()
    counts: dict[str, int] = {"killed": 0, "survived": 0, "incompetent": 0, "timeout": 0, "other": 0}
    skipped: dict[str, int] = {}
    survivors = []
    for _path, operator, occurrence, line, test_raw, worker_raw, diff, output in rows:
        # SQLAlchemy stores the enum member's name (KILLED), older sessions its value (killed)
        test_outcome, worker_outcome = str(test_raw or "").lower(), str(worker_raw or "").lower()
        if worker_outcome == "skipped":
            key = str(output).split(":", 1)[0]
            skipped[key] = skipped.get(key, 0) + 1
        elif worker_outcome == "timeout":
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
    in_scope = total - sum(skipped.values())
    judged = counts["killed"] + counts["timeout"] + counts["survived"]
    summary = {
        "mutants": in_scope,
        "tested": judged + counts["incompetent"] + counts["other"],
        "complete": judged + counts["incompetent"] + counts["other"] == in_scope,
        **counts,
        "skipped": skipped,
        "survivors": sorted(survivors, key=lambda s: (s["line"], s["occurrence"])),
    }
    return _review(name, summary)


def _review(name: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Marks each survivor harmless (with its reason) or not from mutation_harmless.toml, and the scores."""
    reviewed = _harmless(name)
    for survivor in summary["survivors"]:
        entry = next((e for e in reviewed if _match(e, survivor)), None)
        # `open = true`: reviewed, not harmless (a known gap or a product finding); it still counts as survived
        survivor["harmless"] = entry["reason"] if entry and not entry.get("open") else None
        survivor["note"] = entry["reason"] if entry and entry.get("open") else None
    harmless = sum(1 for s in summary["survivors"] if s["harmless"])
    killed = summary["killed"] + summary["timeout"]
    judged = killed + summary["survived"]
    return summary | {
        "harmless": harmless,
        "unexplained": summary["survived"] - harmless,
        "score": round(killed / judged, 4) if judged else None,
        "score_excluding_harmless": round(killed / (judged - harmless), 4) if judged - harmless else None,
    }


def _aggregate(results: dict[str, Any]) -> dict[str, Any]:
    """All modules together: the figure the issue's 85 % is about."""
    modules = {k: v for k, v in results.items() if not k.startswith("_")}
    killed = sum(v["killed"] + v["timeout"] for v in modules.values())
    judged = killed + sum(v["survived"] for v in modules.values())
    harmless = sum(v.get("harmless", 0) for v in modules.values())
    return {
        "modules": sorted(modules),
        "killed": killed,
        "survived": judged - killed,
        "harmless": harmless,
        "score": round(killed / judged, 4) if judged else None,
        "score_excluding_harmless": round(killed / (judged - harmless), 4) if judged - harmless else None,
    }


def _record(name: str, summary: dict[str, Any]) -> None:
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[name] = summary
    results["_aggregate"] = _aggregate(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"{name}: {summary['killed']} killed, {summary['survived']} survived ({summary['harmless']} harmless),"
        f" {summary['timeout']} timeouts of {summary['tested']} tested ({summary['mutants']} in scope):"
        f" score {summary['score']}, excluding harmless {summary['score_excluding_harmless']}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", choices=sorted(MODULES), default=sorted(MODULES))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant's test run")
    parser.add_argument(
        "--summarize",
        nargs=2,
        metavar=("MODULE", "SESSION"),
        help="only record an existing (possibly unfinished) cosmic-ray session's results",
    )
    parser.add_argument(
        "--sample", type=float, default=1.0, help="run only this deterministic fraction of each module's mutants"
    )
    parser.add_argument(
        "--retest",
        type=Path,
        help="a --keep directory: rerun only its sessions' survivors (same product code, new tests)",
    )
    parser.add_argument("--keep", type=Path, help="keep the cosmic-ray sessions in this directory")
    parser.add_argument(
        "--review", action="store_true", help="only apply mutation_harmless.toml again to the recorded survivors"
    )
    args = parser.parse_args(argv)
    if args.review:
        for name, summary in json.loads(RESULTS.read_text()).items():
            if not name.startswith("_"):
                _record(name, _review(name, summary))
        return 0
    if args.summarize:
        name, session = args.summarize
        target = MODULES[name]
        earlier: dict[str, Any] = json.loads(RESULTS.read_text()).get(name, {}) if RESULTS.is_file() else {}
        kept = {k: earlier[k] for k in ("commit", "sample", "seconds", "load_average") if k in earlier}
        _record(  # the run's own facts (commit, timing) stay; counts and reviews are read afresh
            name,
            kept
            | _summary(Path(session), name)
            | {"module": f"src/commitlake/{target.path}", "tests": target.tests, "only": list(target.only)},
        )
        return 0
    sys.path.insert(0, str(ROOT / "src"))
    from commitlake.warehouse.embedded import EmbeddedPostgres

    work = Path(tempfile.mkdtemp(prefix="commitlake-mutation-"))
    server = EmbeddedPostgres(work / "postgres")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    try:
        server.ensure_running()
        tree = work / "tree"
        _copy_tree(tree)
        (work / "shared").symlink_to(ROOT.parent / "shared")  # tests read ../shared next to the tree
        env = {
            **os.environ,
            "PYTHONPATH": str(tree / "src"),
            "COMMITLAKE_TEST_DATABASE_URL": server.url("postgres", "postgres"),
        }
        for name in args.modules:
            target = MODULES[name]
            cfg, session = work / f"{name}.toml", work / f"{name}.sqlite"
            _config(cfg, target.path, target.tests, args.timeout)
            started = time.monotonic()
            steps = [["init", str(cfg), str(session)], ["baseline", str(cfg)], ["exec", str(cfg), str(session)]]
            if args.retest and (args.retest / session.name).is_file():
                shutil.copy2(args.retest / session.name, session)
                with sqlite3.connect(session) as db:  # survivors become pending again; exec runs only them
                    db.execute("delete from work_results where upper(test_outcome) = 'SURVIVED'")
                steps = steps[1:]
            for step in steps:
                done = subprocess.run(
                    [str(BIN / "cosmic-ray"), *step], cwd=tree, env=env, capture_output=True, text=True
                )
                if done.returncode != 0:
                    raise SystemExit(f"cosmic-ray {step[0]} failed for {name}: {(done.stdout + done.stderr)[-2000:]}")
                if step[0] == "init":
                    _filter(session, tree / "src" / "commitlake" / target.path, target.only, args.sample)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy2(session, args.keep / session.name)
            summary = _summary(session, name)
            summary.update(
                module=f"src/commitlake/{target.path}",
                tests=target.tests,
                only=list(target.only),
                commit=commit,
                sample=args.sample,
                seconds=round(time.monotonic() - started),
                load_average=os.getloadavg()[0],
            )
            _record(name, summary)
    finally:
        server.destroy()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
