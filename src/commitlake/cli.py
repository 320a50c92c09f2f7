"""The `commitlake` command: one subcommand per pipeline stage, plus run, status, db and submit."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn

import orjson

from commitlake import __version__, pipeline
from commitlake.config import Settings
from commitlake.contract import DEFAULT_ARGO_SERVER, DEFAULT_NAMESPACE, FINAL_PHASES
from commitlake.errors import (
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    EXIT_TERMINATED,
    EXIT_TRANSIENT,
    EXIT_USAGE,
    CommitlakeError,
    ConfigError,
    exit_code,
)
from commitlake.logs import LOG_FORMATS, capture_output, configure
from commitlake.pipeline import FAN_OUT_LIST, stage_by_name

__all__ = ["EXIT_TRANSIENT", "main"]


def _stage_names() -> tuple[str, ...]:
    """Read at call time: the one pipeline definition decides the subcommands (a test adds a stage)."""
    return tuple(stage.name for stage in pipeline.STAGES)


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line: what was wrong, and where the help is (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"commitlake: error: {message} (see `{self.prog} --help`)\n")


def _stage_list(value: str) -> list[str]:
    """`--stages plan,ingest`: known names only, so a typo never runs nothing and reports success."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in _stage_names()]
    if unknown or not names:
        shown = ", ".join(repr(name) for name in unknown) or repr(value)
        raise argparse.ArgumentTypeError(f"unknown stage {shown}; choose from {','.join(_stage_names())}")
    return names


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {number}")
    return number


def _env(name: str) -> str:
    return f"[env {name}]"


def _add_repos(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repos", nargs="+", metavar="URI",
                        help="sources: git:PATH, jsonl:PATH, github:OWNER/REPO[@BRANCH], github:OWNER/* "
                             f"(default: this clone's own history) {_env('COMMITLAKE_REPOS')}")


def _add_ingest_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--full-refresh", action="store_true", default=None,
                        help=f"ignore stored cursors and fetch everything again {_env('COMMITLAKE_FULL_REFRESH')}")
    parser.add_argument("--with-files", action="store_true", default=None,
                        help="fetch per-file stats from GitHub (one request per commit) "
                             f"{_env('COMMITLAKE_WITH_FILES')}")
    parser.add_argument("--max-requests", type=_positive_int, metavar="N",
                        help=f"GitHub request budget for this run {_env('COMMITLAKE_MAX_REQUESTS')}")
    parser.add_argument("--concurrency", type=_positive_int, metavar="N",
                        help=f"repositories ingested at once (default 4) {_env('COMMITLAKE_INGEST_CONCURRENCY')}")


def _add_run_id(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--run-id", help=f"{help_text} {_env('COMMITLAKE_RUN_ID')}")


def _add_dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (sources, repositories, expected requests) and write nothing")


def _output_flags() -> _Parser:
    """--log-format and --log-level, accepted before or after the command."""
    common = _Parser(add_help=False)
    common.add_argument("--log-format", choices=LOG_FORMATS, default=argparse.SUPPRESS,
                        help="human lines, JSON lines, or auto: human on a terminal, JSON elsewhere "
                             f"(default auto) {_env('COMMITLAKE_LOG_FORMAT')}")
    common.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), type=str.upper,
                        default=argparse.SUPPRESS, help=f"(default INFO) {_env('COMMITLAKE_LOG_LEVEL')}")
    return common


def _stage_epilog(name: str) -> str:
    from commitlake.pipeline import stage_by_name

    stage = stage_by_name(name)
    names = (*stage.config_env, *stage.secret_env)
    return "environment: " + ", ".join(dict.fromkeys(names)) if names else ""


def _run_epilog() -> str:
    """What `commitlake run` reads: every stage's variables, the local settings, the local runner's own."""
    from commitlake.stages import RERUN_UNCHANGED_ENV

    names = [n for stage in pipeline.STAGES for n in (*stage.config_env, *stage.secret_env)]
    names += ["COMMITLAKE_HOME", "COMMITLAKE_MODEL_NAME", "COMMITLAKE_STAGE_PROCESSES", RERUN_UNCHANGED_ENV]
    return "environment: " + ", ".join(dict.fromkeys(names))


def _parser() -> argparse.ArgumentParser:
    common = _output_flags()
    parser = _Parser(prog="commitlake", description="GitHub commits → lake → warehouse → model.", parents=[common])
    parser.add_argument("--version", action="version", version=f"commitlake {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def add(name: str, summary: str, epilog: str = "") -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=summary, epilog=epilog or None, parents=[common])

    run = add("run", "Run the whole pipeline locally, stage by stage, against one warehouse.", _run_epilog())
    _add_repos(run)
    _add_ingest_flags(run)
    run.add_argument("--stages", type=_stage_list, metavar="LIST",
                     help=f"comma-separated subset of stages, run in pipeline order: {','.join(_stage_names())}")
    _add_run_id(run, "reuse a run id (resume a failed run)")
    _add_dry_run(run)

    for stage in pipeline.STAGES:
        cmd = add(stage.name, stage.summary, _stage_epilog(stage.name))
        if stage.name in ("plan", "ingest"):
            _add_repos(cmd)
        if stage.name == "ingest":
            _add_ingest_flags(cmd)
            _add_dry_run(cmd)
        _add_run_id(cmd, "run id shared by the stages of one run")
        if stage.name == "validate":
            from commitlake.quality._checks import LAYERS

            cmd.add_argument("--layer", action="append", choices=LAYERS,
                             help="validate only this layer (repeatable; default: every layer) "
                                  f"{_env('COMMITLAKE_VALIDATE_LAYERS')}")

    _add_status(add)
    _add_warehouse_commands(add)
    _add_submit(add)
    return parser


def _add_status(add: Callable[..., argparse.ArgumentParser]) -> None:
    """`status`: runs as ops.pipeline_runs (or, with --cluster, Argo) sees them."""
    status = add("status", "Recent runs and their stages, from ops.pipeline_runs.", "environment: DATABASE_URL")
    status.add_argument("--limit", type=_positive_int, default=5, metavar="N", help="runs to show (default 5)")
    status.add_argument("--record-exit", metavar="STATUS",
                        help="record a workflow's final status (Argo exit handler) for COMMITLAKE_RUN_ID")
    status.add_argument("--cluster", action="store_true",
                        help="list recent Workflows through the Kubernetes API (kubeconfig or in-cluster)")
    status.add_argument("--namespace", default=None,
                        help=f"with --cluster: namespace (default: ARGO_NAMESPACE or {DEFAULT_NAMESPACE})")


def _add_submit(add: Callable[..., argparse.ArgumentParser]) -> None:
    """`submit`: start (and follow) a run of the WorkflowTemplate on Argo."""
    submit = add("submit", "Submit the WorkflowTemplate to an Argo Server.",
                 "environment: ARGO_SERVER, ARGO_NAMESPACE, ARGO_TOKEN")
    submit.add_argument("--argo-server", default=None,
                        help=f"Argo Server URL (default {DEFAULT_ARGO_SERVER}) {_env('ARGO_SERVER')}")
    submit.add_argument("--namespace", default=None,
                        help=f"namespace (default {DEFAULT_NAMESPACE}) {_env('ARGO_NAMESPACE')}")
    submit.add_argument("--repos", nargs="+", metavar="URI", help=f"sources for this run {_env('COMMITLAKE_REPOS')}")
    submit.add_argument("--insecure", action="store_true",
                        help="skip TLS verification (a port-forwarded Argo Server with its self-signed certificate)")
    submit.add_argument("--wait", action="store_true",
                        help="follow the run through the Kubernetes API and exit with its result")


def _add_warehouse_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """`db` and `dbt`: the warehouse in use, directly."""
    db = add("db", "The warehouse in use: its URL, a psql shell, or stop the embedded server.",
             "environment: DATABASE_URL (unset: the embedded server under COMMITLAKE_HOME)")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION", parser_class=_Parser)
    db_sub.add_parser("url", help="print the connection URL (starts the embedded server and leaves it running)")
    db_sub.add_parser("shell", help="open psql on the warehouse")
    db_sub.add_parser("stop", help="stop the embedded server")
    db_sub.add_parser("backup", help="pg_dump the warehouse into the lake (backups/warehouse/)")
    db_sub.add_parser("restore", help="restore a backup from the lake (default: the newest)").add_argument(
        "key", nargs="?", help="backup key, as printed by `db backup`")
    db_sub.add_parser("partition-raw", help="HASH-partition raw.github_commits on repository (16; idempotent)")

    dbt = add("dbt", "Run any dbt command against the warehouse in use (e.g. `commitlake dbt -- docs generate`).",
              "environment: DATABASE_URL, COMMITLAKE_DBT_PROJECT_DIR")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, help="arguments for dbt, after --")


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
    if warehouse.embedded is not None:  # `url` and `shell` leave it up for the next command: say so
        print("(embedded server left running; stop it with `commitlake db stop`)", file=sys.stderr)
    if args.db_command == "url":
        print(warehouse.url)
        return 0
    psql = shutil.which("psql")
    if psql is None:
        raise CommitlakeError("psql is not installed (apt-get install postgresql-client)")
    from commitlake.warehouse.dsn import tool_conninfo_and_env

    conninfo, env = tool_conninfo_and_env(warehouse.url)  # the password in psql's environment, not in `ps`
    return subprocess.call([psql, conninfo], env=env)


def _cmd_dbt(args: argparse.Namespace, settings: Settings) -> int:
    from commitlake.transform import run_dbt
    from commitlake.warehouse.db import open_warehouse

    dbt_args = [a for a in args.dbt_args if a != "--"]
    if not dbt_args:
        raise ConfigError("commitlake dbt needs dbt's arguments after --, e.g. `commitlake dbt -- ls`")
    # Stops the embedded server on the way out if this command started it (`make docs` included).
    with open_warehouse(settings) as warehouse:
        result = run_dbt(settings, warehouse.url, dbt_args)
    return 0 if result.success else 1


def _cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    try:  # commitlake_workflows ships with commitlake; Hera comes with the `workflows` extra
        from commitlake_workflows.submit import submit
    except ImportError as exc:
        raise ConfigError(f"commitlake submit needs the workflows extra (commitlake[workflows]): {exc}") from exc

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


def _where_next(run_id: str, details: dict[str, dict[str, object]], settings: Settings) -> str:
    """The summary's last lines: where the results of this run can be looked at."""
    lines = ["where next:",
             f"  commitlake status                  this run ({run_id}) and earlier ones, stage by stage"]
    if "validate" in details:
        lines.append(f"  commitlake db shell                then: select * from ops.data_quality_results "
                     f"where run_id = '{run_id}'")
    mlflow_run = details.get("train", {}).get("mlflow_run_id")
    if mlflow_run:
        uri = settings.effective_mlflow_uri
        where = uri if uri.startswith(("http://", "https://")) else f"`mlflow ui --backend-store-uri {uri}`"
        lines.append(f"  MLflow run {mlflow_run}: {where}")
    if "transform" in details:
        lines.append("  make docs                          dbt docs: lineage from raw to analytics, on :8081")
    return "\n".join(lines)


def _dispatch(args: argparse.Namespace, base: Settings) -> int:
    settings = _settings(args, base)
    if getattr(args, "dry_run", False):
        from commitlake.dryrun import print_plan

        print_plan(settings, args.stages if args.command == "run" else ["plan", "ingest"])
        return 0
    if args.command == "run":
        from commitlake.runner import run_pipeline

        with capture_output():  # a library's prints become log records: the chosen format holds
            summary = run_pipeline(settings, only=args.stages)
        print(summary.render(), file=sys.stderr)
        print(_where_next(summary.run_id, {name: r.details for name, r in summary.results.items()}, settings),
              file=sys.stderr)
        return EXIT_PARTIAL if summary.failures else 0
    if args.command in _stage_names():
        from commitlake.runner import run_single_stage

        if getattr(args, "layer", None):
            from commitlake.stages.validate import VALIDATE_LAYERS_ENV

            os.environ[VALIDATE_LAYERS_ENV] = ",".join(args.layer)
        with capture_output():
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


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: the same unwinding stops the embedded server this command started
    and its stage processes, where the default action would kill this process alone and leave them running."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():  # signal handlers belong to the main thread
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        base = Settings.from_env().with_overrides(
            log_format=getattr(args, "log_format", None), log_level=getattr(args, "log_level", None)
        )
        # `plan` and `db url` print results on stdout (Argo and shells read them), so their logs go to stderr.
        # So does a dry run: its plan is the output.
        stdout_commands = {"db", *(s.name for s in pipeline.STAGES if s.emits_fan_out_list)}
        to_stderr = args.command in stdout_commands or getattr(args, "dry_run", False)
        configure(base.log_level, sys.stderr if to_stderr else None, base.log_format)
        return _dispatch(args, base)
    except CommitlakeError as exc:
        print(f"commitlake: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, _Terminated)
        print(f"commitlake: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except BrokenPipeError:  # `commitlake status | head`: the reader left early, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at interpreter exit
        return 0
    except Exception as exc:  # a bug, not a bad input: still one line, with the traceback one setting away
        if os.environ.get("COMMITLAKE_LOG_LEVEL", "").upper() == "DEBUG":
            raise
        print(f"commitlake: error: unexpected {type(exc).__name__}: {exc} "
              "(COMMITLAKE_LOG_LEVEL=DEBUG shows the traceback)", file=sys.stderr)
        return exit_code(exc)
