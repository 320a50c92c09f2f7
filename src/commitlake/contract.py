"""The names commitlake shares with Argo Workflows and Kubernetes, written once.

The Hera builder (workflows/), the CLI (`submit`, `status --record-exit`), the Helm chart's tests and the README
tests all read these; the chart receives them as defaults in values.yaml, which tests/test_contract.py compares
with this module. Plain constants only: importing this module costs nothing and needs no extra.
"""

from __future__ import annotations

# Exit codes are defined once, beside the exception tree; re-exported here as part of the Argo contract.
from commitlake.errors import EXIT_PARTIAL, EXIT_TRANSIENT

__all__ = [
    "ARTIFACT_REPOSITORIES",
    "ARTIFACT_SECRET",
    "BACKUP_ACCESS_KEY_ENV",
    "BACKUP_BUCKET",
    "BACKUP_SECRET",
    "BACKUP_SECRET_KEY_ENV",
    "BACKUP_URI_ENV",
    "CONFIG_MAP",
    "DEFAULT_ARGO_SERVER",
    "DEFAULT_NAMESPACE",
    "EXIT_HANDLER",
    "EXIT_PARTIAL",
    "EXIT_TRANSIENT",
    "FINAL_PHASES",
    "LABEL_COMPONENT",
    "LABEL_PART_OF",
    "LABEL_VERSION",
    "OPTIONAL_SECRETS",
    "PART_OF",
    "PIPELINE_COMPONENT",
    "REPOS_PARAMETER",
    "REPO_INPUT",
    "RUN_FINISHED_EVENT",
    "RUN_ID_PATTERN",
    "RUN_NAME_PREFIX",
    "S3_ACCESS_KEY_KEY",
    "S3_SECRET_KEY_KEY",
    "SECRET",
    "SERVICE_ACCOUNT",
    "WAREHOUSE_MUTEX",
    "WORKFLOW_GROUP",
    "WORKFLOW_PLURAL",
    "WORKFLOW_TEMPLATE_NAME",
    "WORKFLOW_VERSION",
]

#: The WorkflowTemplate users name (`argo submit --from workflowtemplate/commitlake`); its version is a label.
WORKFLOW_TEMPLATE_NAME = "commitlake"
#: Default namespace of the chart's release (and of `commitlake submit`/`status --cluster`).
DEFAULT_NAMESPACE = "commitlake"
#: Where `commitlake submit` finds the Argo Server when ARGO_SERVER is unset (a port-forward).
DEFAULT_ARGO_SERVER = "https://localhost:2746"
#: Default ServiceAccount of the workflow pods (chart value pipeline.serviceAccountName).
SERVICE_ACCOUNT = "commitlake-workflow"
#: ConfigMap every stage reads with envFrom: the non-secret `config_env` keys of all stages.
CONFIG_MAP = "commitlake-config"
#: Secret holding one key per `secret_env` name of the stages.
SECRET = "commitlake-pipeline"
#: Secret of Argo's artifact repository (workflow artifacts, archived logs): its own S3 identity, the argo bucket
#: only, so the pipeline's keys need no access to it (chart value secrets.argo).
ARTIFACT_SECRET = "commitlake-argo-s3"
#: ConfigMap Argo reads for a namespace's default artifact repository (a name Argo fixes).
ARTIFACT_REPOSITORIES = "artifact-repositories"
#: The S3 key pair's names in every Secret that carries one (the pipeline's, MLflow's, Argo's, the backups').
S3_ACCESS_KEY_KEY = "AWS_ACCESS_KEY_ID"
S3_SECRET_KEY_KEY = "AWS_SECRET_ACCESS_KEY"
#: Secret keys a run can do without (anonymous GitHub access: 60 requests an hour).
OPTIONAL_SECRETS = frozenset({"GITHUB_TOKEN"})
#: Workflow parameter holding the source URIs of one run (whitespace-separated, as COMMITLAKE_REPOS).
REPOS_PARAMETER = "repos"
#: Input parameter of a fan-out stage: the one item of the upstream list this pod handles.
REPO_INPUT = "repo"
#: Runs are named `commitlake-<random>`; the name doubles as COMMITLAKE_RUN_ID in every stage.
RUN_NAME_PREFIX = "commitlake-"
#: What a run id may be: it names lake prefixes (`run_id=<id>/`) and rows of ops tables, so one path segment of
#: letters, digits, '.', '_' and '-' (Argo's workflow names and the local runner's timestamped ids both fit).
RUN_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}"
#: Name of the exit-handler template.
EXIT_HANDLER = "record-exit"
#: Every run writes the same raw/staging/analytics tables: runs of the template never overlap.
WAREHOUSE_MUTEX = "commitlake-warehouse"
#: The log event both executors write when a run ends (the Grafana "run failed" alert counts it).
RUN_FINISHED_EVENT = "run.finished"

LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_VERSION = "app.kubernetes.io/version"
PART_OF = "commitlake"
#: Component label of workflow pods (NetworkPolicies and the log pipeline select on it).
PIPELINE_COMPONENT = "pipeline"

#: The Workflow custom resource, as the Kubernetes API names it.
WORKFLOW_GROUP = "argoproj.io"
WORKFLOW_VERSION = "v1alpha1"
WORKFLOW_PLURAL = "workflows"
#: Workflow phases that end a run; only the first is a success.
FINAL_PHASES = ("Succeeded", "Failed", "Error")

#: Backups have their own identity: this Secret (keys S3_ACCESS_KEY_KEY, S3_SECRET_KEY_KEY) may use BACKUP_BUCKET only.
#: CloudNativePG's barman-cloud reads it directly; `commitlake db backup|restore` gets its keys through the
#: BACKUP_*_ENV variables (so a pod may hold the pipeline's keys too) and writes under BACKUP_URI_ENV.
BACKUP_SECRET = "commitlake-backups"
BACKUP_BUCKET = "commitlake-backups"
BACKUP_URI_ENV = "COMMITLAKE_BACKUP_URI"
BACKUP_ACCESS_KEY_ENV = "COMMITLAKE_BACKUP_ACCESS_KEY_ID"
BACKUP_SECRET_KEY_ENV = "COMMITLAKE_BACKUP_SECRET_ACCESS_KEY"
