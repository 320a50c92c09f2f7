"""The `commitlake` command: one subcommand per pipeline stage, plus run, status, db and submit."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

import orjson

from commitlake import __version__, pipeline
from commitlake.config import Settings
from commitlake.contract import DEFAULT_ARGO_SERVER, DEFAULT_NAMESPACE, FINAL_PHASES
from commitlake.errors import EXIT_PARTIAL, EXIT_TRANSIENT, CommitlakeError, ConfigError
from commitlake.logs import configure
from commitlake.pipeline import FAN_OUT_LIST, stage_by_name

__all__ = ["EXIT_TRANSIENT", "main"]


def _add_source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repos", nargs="+", metavar="URI",
                        help="sources: git:PATH, jsonl:PATH, github:OWNER/REPO[@BRANCH], github:OWNER/* "
                             "(default: COMMITLAKE_REPOS, else this clone's own history)")
    parser.add_argument("--full-refresh", action="store_true", default=None, help="ignore stored cursors")
    parser.add_argument("--with-files", action="store_true", default=None, help="fetch per-file stats from GitHub")
    parser.add_argument("--max-requests", type=int, help="GitHub request budget for this run")
    parser.add_argument("--concurrency", type=int, help="repositories ingested at once (default 4)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="commitlake", description="GitHub commits → lake → warehouse → model.")
    parser.add_argument("--version", action="version", version=f"commitlake {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole pipeline locally, stage by stage")
    _add_source_flags(run)
    run.add_argument("--stages", help="comma-separated subset of stages to run, in pipeline order")
    run.add_argument("--run-id", help="reuse a run id (resume a failed run)")

    for stage in pipeline.STAGES:
        cmd = sub.add_parser(stage.name, help=stage.summary)
        _add_source_flags(cmd)
        cmd.add_argument("--run-id", help="run id shared by the stages of one run (default: COMMITLAKE_RUN_ID)")

    status = sub.add_parser("status", help="recent runs and their stages")
    status.add_argument("--limit", type=int, default=5)
    status.add_argument("--record-exit", metavar="STATUS",
                        help="record a workflow's final status (Argo exit handler) for COMMITLAKE_RUN_ID")
    status.add_argument("--cluster", action="store_true",
                        help="list recent Workflows through the Kubernetes API (kubeconfig or in-cluster)")
    status.add_argument("--namespace", default=None,
                        help=f"with --cluster: namespace (default: ARGO_NAMESPACE or {DEFAULT_NAMESPACE})")

    db = sub.add_parser("db", help="the warehouse in use")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("url", help="print the connection URL (starts the embedded server if needed)")
    db_sub.add_parser("shell", help="open psql on the warehouse")
    db_sub.add_parser("stop", help="stop the embedded server")
    db_sub.add_parser("backup", help="pg_dump the warehouse into the lake (backups/warehouse/)")
    db_sub.add_parser("restore", help="restore a backup from the lake (default: the newest)").add_argument(
        "key", nargs="?", help="backup key, as printed by `db backup`")
    db_sub.add_parser("partition-raw", help="HASH-partition raw.github_commits on repository (16; idempotent)")

    dbt = sub.add_parser("dbt", help="run any dbt command against the warehouse in use (e.g. docs generate)")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)

    submit = sub.add_parser("submit", help="submit the WorkflowTemplate to an Argo Server")
    submit.add_argument("--argo-server", default=None,
                        help=f"Argo Server URL (default: ARGO_SERVER or {DEFAULT_ARGO_SERVER})")
    submit.add_argument("--namespace", default=None,
                        help=f"namespace (default: ARGO_NAMESPACE or {DEFAULT_NAMESPACE})")
    submit.add_argument("--repos", nargs="+", metavar="URI", help="sources for this run")
    submit.add_argument("--insecure", action="store_true",
                        help="skip TLS verification (a port-forwarded Argo Server with its self-signed certificate)")
    submit.add_argument("--wait", action="store_true",
                        help="follow the run through the Kubernetes API and exit with its result")
    return parser


def _settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The environment's settings with this command's flags on top."""
    repos = tuple(getattr(args, "repos", None) or ()) or None
    return settings.with_overrides(
        repos=repos,
        full_refresh=getattr(args, "full_refresh", None),
        with_files=getattr(args, "with_files", None),
        max_requests=getattr(args, "max_requests", None),
        ingest_concurrency=getattr(args, "concurrency", None),
        run_id=getattr(args, "run_id", None),
    )


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from commitlake.status import print_status, record_exit

    if args.record_exit:
        record_exit(settings, args.record_exit)
        return 0
    if args.cluster:
        from commitlake.cluster import list_workflows, workflow_api

        namespace = args.namespace or os.environ.get("ARGO_NAMESPACE") or DEFAULT_NAMESPACE
        rows = list_workflows(workflow_api(os.environ.get("KUBECONFIG")), namespace, args.limit)
        print("\n".join(r.render() for r in rows) if rows else f"no commitlake workflows in {namespace}")
        return 0
    print_status(settings, args.limit)
    return 0


def _cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from commitlake.warehouse.db import Warehouse
    from commitlake.warehouse.embedded import EmbeddedPostgres

    if args.db_command == "stop":
        if not settings.embedded_database:
            print("DATABASE_URL points at an external server; nothing to stop", file=sys.stderr)
            return 0
        stopped = EmbeddedPostgres(settings.home / "postgres").stop()
        print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running", file=sys.stderr)
        return 0
    if args.db_command == "partition-raw":
        from commitlake.warehouse.partitioning import run_partition_command

        print(run_partition_command(settings))
        return 0
    if args.db_command in ("backup", "restore"):
        from commitlake.warehouse.backup import run_backup_command

        print(run_backup_command(settings, args.db_command, getattr(args, "key", None)))
        return 0
    warehouse = Warehouse(settings, keep_running=True).open()
    if args.db_command == "url":
        print(warehouse.url)
        if warehouse.embedded is not None:
            print("(embedded server left running; stop it with `commitlake db stop`)", file=sys.stderr)
        return 0
    psql = shutil.which("psql")
    if psql is None:
        raise CommitlakeError("psql is not installed (apt-get install postgresql-client)")
    return subprocess.call([psql, warehouse.url])


def _cmd_dbt(args: argparse.Namespace, settings: Settings) -> int:
    from commitlake.transform import run_dbt
    from commitlake.warehouse.db import Warehouse

    warehouse = Warehouse(settings, keep_running=True).open()
    dbt_args = [a for a in args.dbt_args if a != "--"]
    result = run_dbt(settings, warehouse.url, dbt_args)
    return 0 if result.success else 1


def _cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    try:  # Hera and the workflows package: `make submit` puts them on the path
        from commitlake_workflows.submit import submit
    except ImportError as exc:
        raise ConfigError(f"commitlake submit needs the workflows extra on PYTHONPATH (make submit): {exc}") from exc

    server = args.argo_server or os.environ.get("ARGO_SERVER") or DEFAULT_ARGO_SERVER
    namespace = args.namespace or os.environ.get("ARGO_NAMESPACE") or DEFAULT_NAMESPACE
    name = submit(server, namespace, os.environ.get("ARGO_TOKEN"), list(args.repos or settings.repos),
                  verify_ssl=not args.insecure)
    print(name)
    if not args.wait:
        return 0
    from commitlake.cluster import follow, workflow_api

    sys.stdout.flush()
    api = workflow_api(os.environ.get("KUBECONFIG"))
    phase = follow(api, namespace, name, show=lambda line: print(line, file=sys.stderr, flush=True))
    return 0 if phase == FINAL_PHASES[0] else 1


def _dispatch(args: argparse.Namespace, base: Settings) -> int:
    settings = _settings(args, base)
    if args.command == "run":
        from commitlake.runner import run_pipeline

        only = [s.strip() for s in args.stages.split(",")] if args.stages else None
        summary = run_pipeline(settings, only=only)
        print(summary.render(), file=sys.stderr)
        return EXIT_PARTIAL if summary.failures else 0
    if args.command in {s.name for s in pipeline.STAGES}:
        from commitlake.runner import run_single_stage

        result = run_single_stage(settings, args.command)
        print(f"{args.command}: {result.summary}", file=sys.stderr)
        for key, why in result.failures.items():  # the rest was done: one line per input that was not
            print(f"commitlake: error: {key}: {why}", file=sys.stderr)
        if stage_by_name(args.command).emits_fan_out_list:  # Argo reads the list from stdout
            print(orjson.dumps(result.details[FAN_OUT_LIST]).decode())
        return EXIT_PARTIAL if result.failures else 0
    if args.command == "status":
        return _cmd_status(args, settings)
    if args.command == "db":
        return _cmd_db(args, settings)
    if args.command == "dbt":
        return _cmd_dbt(args, settings)
    if args.command == "submit":
        return _cmd_submit(args, settings)
    raise CommitlakeError(f"unknown command {args.command}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        base = Settings.from_env()
        # `plan` and `db url` print results on stdout (Argo and shells read them), so their logs go to stderr.
        stdout_commands = {"db", *(s.name for s in pipeline.STAGES if s.emits_fan_out_list)}
        configure(base.log_level, sys.stderr if args.command in stdout_commands else None, base.log_format)
        return _dispatch(args, base)
    except CommitlakeError as exc:
        print(f"commitlake: error: {exc}", file=sys.stderr)
        return EXIT_TRANSIENT if exc.transient else 1
    except KeyboardInterrupt:
        print("commitlake: interrupted", file=sys.stderr)
        return 130
