"""Benchmark: the validate stage's quality suites, per layer, at 100k and 1M real-shaped commits.

The warehouse is built the real way (bench_dbt's replicated histories → lake → `load_lake` → `dbt build`), then
`validate_warehouse` runs each layer's suite from dbt/quality/ (GX checks, reconciliation, anomaly monitors),
then all four layers at once, as the validate stage does. A second full validation shows the steady state
(history present, monitors judged rather than learning).

    python bench/bench_validate.py [--rows 100000,1000000]

Writes bench/results/validate.json and bench/results/validate.png. Starts commitlake's embedded PostgreSQL in a
temporary directory unless PGHOST is set.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

import bench_dbt
from commitlake.quality import LAYERS, load_spec, validate_warehouse

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _dsn(db: str) -> str:
    host, port = os.environ.get("PGHOST", "127.0.0.1"), os.environ.get("PGPORT", "5432")
    user, password = os.environ.get("PGUSER", "postgres"), os.environ.get("PGPASSWORD", "")
    auth = f"{user}:{password}" if password else user
    return f"postgresql://{auth}@{host}:{port}/{db}"


def measure(rows: int, hist: list[tuple[str, list[dict[str, Any]]]], state: Path) -> dict[str, Any]:
    db = f"bench_validate_{rows}"
    with psycopg.connect(_dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{db}" with (force)')
        conn.execute(f'create database "{db}"')
    dsn = _dsn(db)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((ROOT / "src/commitlake/warehouse/sql/schema.sql").read_text())
    os.environ["PGDATABASE"] = db
    started = time.perf_counter()
    loaded = bench_dbt.load(dsn, state / f"lake-{rows}", bench_dbt.base_rows(hist, rows), "bench-load")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("vacuum analyze raw.github_commits")
    build_seconds, _ = bench_dbt.dbt_build(state / f"dbt-{rows}")
    prepare = time.perf_counter() - started
    spec = load_spec(ROOT / "dbt" / "quality")
    per_layer: dict[str, float] = {}
    for layer in LAYERS:
        report = validate_warehouse(dsn, f"bench-{layer}", layers=[layer], spec=spec)
        per_layer[layer] = round(report.duration_s, 2)
    full = validate_warehouse(dsn, "bench-load", spec=spec, docs_dir=state / f"docs-{rows}")
    again = validate_warehouse(dsn, "bench-load", spec=spec)
    return {
        "rows": loaded,
        "prepare_seconds": round(prepare, 1),
        "dbt_build_seconds": round(build_seconds, 1),
        "per_layer_seconds": per_layer,
        "all_layers_with_data_docs_seconds": round(full.duration_s, 2),
        "all_layers_rerun_seconds": round(again.duration_s, 2),
        "checks": len(full.results),
        "critical_failures": [r.describe() for r in full.critical_failures],
        "warnings": [r.describe() for r in full.warnings],
    }


def run(sizes: list[int]) -> None:
    hist = bench_dbt.histories()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        for rows in sizes:
            result = measure(rows, hist, Path(tmp))
            print(json.dumps(result))
            results.append(result)
    out = {"cpus": os.cpu_count(), "loadavg": os.getloadavg(), "results": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "validate.json").write_text(json.dumps(out, indent=2) + "\n")
    _plot(results)


def _plot(results: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [*LAYERS, "all (+docs)"]
    width = 0.8 / max(1, len(results))
    for i, result in enumerate(results):
        values = [result["per_layer_seconds"][layer] for layer in LAYERS] + [
            result["all_layers_with_data_docs_seconds"]
        ]
        ax.bar([x + i * width for x in range(len(labels))], values, width, label=f"{result['rows']:,} commits")
    ax.set_xticks([x + width * (len(results) - 1) / 2 for x in range(len(labels))], labels)
    ax.set_ylabel("seconds")
    ax.set_title("validate_warehouse per layer")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "validate.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated sizes")
    args = parser.parse_args()
    sizes = [int(s) for s in args.rows.split(",")]
    if os.environ.get("PGHOST"):
        run(sizes)
        return
    from commitlake.transform import dbt_env
    from commitlake.warehouse.embedded import EmbeddedPostgres

    home = Path(tempfile.mkdtemp(prefix="bench-validate-pg-"))
    server = EmbeddedPostgres(home / "postgres")
    server.ensure_running()
    try:
        os.environ.update({k: v for k, v in dbt_env(server.url("postgres", "postgres")).items() if k.startswith("PG")})
        run(sizes)
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
