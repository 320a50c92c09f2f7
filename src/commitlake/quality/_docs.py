"""Data Docs in the lake: the HTML GX's site builder rendered for a run, copied under one prefix per run.

    quality/data_docs/run_id=<RUN>/index.html

A rerun of the same run id replaces its pages (the docs describe the latest validation of that run).
"""

from __future__ import annotations

from pathlib import Path

from commitlake.lake import Lake

__all__ = ["DATA_DOCS_PREFIX", "data_docs_prefix", "publish_data_docs"]

DATA_DOCS_PREFIX = "quality/data_docs"


def data_docs_prefix(run_id: str) -> str:
    return f"{DATA_DOCS_PREFIX}/run_id={run_id}/"


def publish_data_docs(lake: Lake, site_dir: Path, run_id: str) -> str:
    """Copy every file of the built site into the lake; return the URI of its index page."""
    prefix = data_docs_prefix(run_id)
    for path in sorted(p for p in site_dir.rglob("*") if p.is_file()):
        lake.put_bytes(prefix + path.relative_to(site_dir).as_posix(), path.read_bytes(), replace=True)
    return f"{lake.uri.rstrip('/')}/{prefix}index.html"
