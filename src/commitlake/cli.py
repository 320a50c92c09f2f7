"""The `commitlake` command: one subcommand per pipeline stage, plus run, status, db and submit."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

import orjson

from commitlake import __version__
from commitlake.config import Settings
from commitlake.errors import CommitlakeError
from commitlake.logs import configure
from commitlake.pipeline import STAGES

__all__ = ["EXIT_TRANSIENT", "main"]

#: EX_TEMPFAIL: a retry may succeed. Argo's retryStrategy retries this code (and pod errors) only.
EXIT_TRANSIENT = 75


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

    for stage in STAGES:
        cmd = sub.add_parser(stage.name, help=stage.summary)
        _add_source_flags(cmd)
        cmd.add_argument("--run-id", help="run id shared by the stages of one run (default: COMMITLAKE_RUN_ID)")
        if stage.name == "validate":
            from commitlake.quality._checks import LAYERS

            cmd.add_argument("--layer", action="append", choices=LAYERS,
                             help="validate only this layer (repeatable; default: every layer)")

    status = sub.add_parser("status", help="recent runs and their stages")
    status.add_argument("--limit", type=int, default=5)
    status.add_argument("--record-exit", metavar="STATUS",
                        help="record a workflow's final status (Argo exit handler) for COMMITLAKE_RUN_ID")

    db = sub.add_parser("db", help="the warehouse in use")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("url", help="print the connection URL (starts the embedded server if needed)")
    db_sub.add_parser("shell", help="open psql on the warehouse")
    db_sub.add_parser("stop", help="stop the embedded server")

    dbt = sub.add_parser("dbt", help="run any dbt command against the warehouse in use (e.g. docs generate)")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)

    submit = sub.add_parser("submit", help="submit the WorkflowTemplate to an Argo Server")
    submit.add_argument("--argo-server", default=None, help="Argo Server URL (default: ARGO_SERVER or https://localhost:2746)")
    submit.add_argument("--namespace", default=None, help="namespace (default: ARGO_NAMESPACE or commitlake)")
    submit.add_argument("--repos", nargs="+", metavar="URI", help="sources for this run")
    submit.add_argument("--insecure", action="store_true",
                        help="skip TLS verification (a port-forwarded Argo Server with its self-signed certificate)")
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
    from commitlake.submit import submit

    server = args.argo_server or os.environ.get("ARGO_SERVER") or "https://localhost:2746"
    namespace = args.namespace or os.environ.get("ARGO_NAMESPACE") or "commitlake"
    name = submit(server, namespace, os.environ.get("ARGO_TOKEN"), list(args.repos or settings.repos),
                  verify_ssl=not args.insecure)
    print(name)
    return 0


def _dispatch(args: argparse.Namespace, base: Settings) -> int:
    settings = _settings(args, base)
    if args.command == "run":
        from commitlake.runner import run_pipeline

        only = [s.strip() for s in args.stages.split(",")] if args.stages else None
        summary = run_pipeline(settings, only=only)
        print(summary.render(), file=sys.stderr)
        return 0
    if args.command == "plan":
        from commitlake.stages.plan import plan_uris

        print(orjson.dumps(plan_uris(settings)).decode())
        return 0
    if args.command in {s.name for s in STAGES}:
        from commitlake.runner import run_single_stage

        if getattr(args, "layer", None):
            from commitlake.stages.validate import VALIDATE_LAYERS_ENV

            os.environ[VALIDATE_LAYERS_ENV] = ",".join(args.layer)

        result = run_single_stage(settings, args.command)
        print(f"{args.command}: {result.summary}", file=sys.stderr)
        return 0
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
        configure(base.log_level, sys.stderr if args.command in ("plan", "db") else None, base.log_format)
        return _dispatch(args, base)
    except CommitlakeError as exc:
        print(f"commitlake: error: {exc}", file=sys.stderr)
        return EXIT_TRANSIENT if exc.transient else 1
    except KeyboardInterrupt:
        print("commitlake: interrupted", file=sys.stderr)
        return 130
