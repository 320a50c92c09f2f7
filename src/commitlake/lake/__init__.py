"""The raw layer: immutable objects in a local directory or any S3-compatible store."""

from commitlake.lake.layout import (
    MANIFEST_NAME,
    Manifest,
    ManifestObject,
    branch_segment,
    manifest_key,
    part_key,
    repo_slug,
    run_prefix,
)
from commitlake.lake.store import Lake, LocalLake, S3Lake, open_lake

__all__ = [
    "MANIFEST_NAME",
    "Lake",
    "LocalLake",
    "Manifest",
    "ManifestObject",
    "S3Lake",
    "branch_segment",
    "manifest_key",
    "open_lake",
    "part_key",
    "repo_slug",
    "run_prefix",
]
