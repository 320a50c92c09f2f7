"""Build the Argo objects for commitlake from the one pipeline definition (commitlake.pipeline.STAGES).

Side-effect free: every function returns a Hera object and nothing reads the environment, writes files or talks
to a cluster (`render.py` writes YAML, `submit.py` talks to the Argo Server). The stage list is never
restated here: each Stage becomes one container template and one DAG task, its `depends_on` become the DAG's
edges, `fan_out_over` becomes `withParam` over that stage's stdout, and its retries, timeout, resources,
config_env and secret_env become the template's retryStrategy, activeDeadlineSeconds, resources, envFrom and
secretKeyRefs.

Every name shared with the Helm chart comes from commitlake.contract (ServiceAccount, ConfigMap, Secret,
parameter names, the transient exit code, pod labels). The chart renders the WorkflowTemplate from this output
and sets the deploy-time choices on it: image registry and tag, namespace and ServiceAccount.
"""

from __future__ import annotations

from hera.workflows import (
    DAG,
    ConfigMapEnvFrom,
    Container,
    CronWorkflow,
    EmptyDirVolume,
    Env,
    Parameter,
    RetryStrategy,
    SecretEnv,
    Task,
    Workflow,
    WorkflowTemplate,
)
from hera.workflows import Resources as HeraResources
from hera.workflows.models import (
    Backoff,
    Capabilities,
    ContinueOn,
    IntOrString,
    Mutex,
    PodGC,
    PodSecurityContext,
    Quantity,
    SeccompProfile,
    SecurityContext,
    Synchronization,
    TTLStrategy,
    WorkflowTemplateRef,
)

from commitlake import __version__
from commitlake.contract import (
    CONFIG_MAP,
    EXIT_HANDLER,
    EXIT_TRANSIENT,
    LABEL_COMPONENT,
    LABEL_PART_OF,
    LABEL_VERSION,
    OPTIONAL_SECRETS,
    PART_OF,
    PIPELINE_COMPONENT,
    REPO_INPUT,
    REPOS_PARAMETER,
    SECRET,
    SERVICE_ACCOUNT,
    WAREHOUSE_MUTEX,
    WORKFLOW_TEMPLATE_NAME,
)
from commitlake.pipeline import (
    FAN_OUT_PARALLELISM,
    IMAGE_REPOSITORY,
    RETRY_BACKOFF,
    STAGES,
    Resources,
    Stage,
    image_for,
)
from commitlake_workflows.submit import workflow_for

__all__ = [
    "cron_workflow",
    "example_workflow",
    "stage_container",
    "workflow_template",
]

#: The only writable paths under a read-only root filesystem: emptyDir volumes.
STATE_DIR = "/var/lib/commitlake"
TMP_DIR = "/tmp"
#: UID/GID of the `commitlake` user baked into images/base/Dockerfile.
RUN_AS = 10001
DAG_NAME = "pipeline"
#: The exit handler runs `commitlake status` in the first stage's (lightest) image.
EXIT_IMAGE_STAGE = STAGES[0]
EXIT_RESOURCES = Resources("50m", "128Mi", "500m", "256Mi")
EXIT_TIMEOUT_SECONDS = 300
#: Retry only what a retry can fix: pod-level errors (eviction, node loss, image pull: Argo's "Error" phase)
#: and exit code 75 (EX_TEMPFAIL, a transient condition the CLI reports). A failed quality gate or a bad
#: setting exits 1 and fails at once.
RETRY_EXPRESSION = f'lastRetry.status == "Error" || asInt(lastRetry.exitCode) == {EXIT_TRANSIENT}'
BACKOFF = Backoff(
    duration=f"{RETRY_BACKOFF.first_seconds:g}s",
    factor=IntOrString(str(RETRY_BACKOFF.factor)),
    cap=f"{RETRY_BACKOFF.cap_seconds:g}s",
    max_duration="1h",
)


# Argo types activeDeadlineSeconds, retry limit and backoff factor as IntOrString, and its published JSON
# schema renders IntOrString as a string: we emit strings, which the controller accepts as well.
def _int_or_string(value: int) -> str:
    return str(value)
#: Default for the `repos` parameter: Kubernetes expands $(COMMITLAKE_REPOS) from the ConfigMap (envFrom is
#: resolved before env), so a run without the parameter plans what the chart configured.
REPOS_FROM_CONFIG = "$(COMMITLAKE_REPOS)"


def labels(component_name: str, version: str = __version__) -> dict[str, str]:
    """Pod labels: NetworkPolicies select on part-of and component; name tells the stages apart."""
    return {
        LABEL_PART_OF: PART_OF,
        LABEL_COMPONENT: PIPELINE_COMPONENT,
        "app.kubernetes.io/name": f"commitlake-{component_name}",
        LABEL_VERSION: version,
    }


def _resources(resources: Resources) -> HeraResources:
    return HeraResources(
        cpu_request=resources.cpu_request,
        memory_request=resources.memory_request,
        cpu_limit=resources.cpu_limit,
        memory_limit=resources.memory_limit,
    )


def _pod_security() -> PodSecurityContext:
    return PodSecurityContext(
        run_as_non_root=True,
        run_as_user=RUN_AS,
        run_as_group=RUN_AS,
        fs_group=RUN_AS,
        seccomp_profile=SeccompProfile(type="RuntimeDefault"),
    )


def _container_security() -> SecurityContext:
    return SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=Capabilities(drop=["ALL"]),
    )


def _volumes() -> list[EmptyDirVolume]:
    return [
        EmptyDirVolume(name="tmp", mount_path=TMP_DIR, size_limit=Quantity("2Gi")),
        EmptyDirVolume(name="state", mount_path=STATE_DIR, size_limit=Quantity("1Gi")),
    ]


def _secret_env(names: tuple[str, ...]) -> list[SecretEnv]:
    return [
        SecretEnv(name=name, secret_name=SECRET, secret_key=name, optional=True if name in OPTIONAL_SECRETS else None)
        for name in dict.fromkeys(names)
    ]


def _retry(limit: int) -> RetryStrategy:
    return RetryStrategy(
        limit=_int_or_string(limit), retry_policy="Always", expression=RETRY_EXPRESSION, backoff=BACKOFF
    )


def stage_container(stage: Stage, image_prefix: str = IMAGE_REPOSITORY, version: str = __version__) -> Container:
    """The container template that runs `commitlake <stage>` in the stage's image."""
    env: list[Env | SecretEnv] = [
        Env(name="COMMITLAKE_RUN_ID", value="{{workflow.name}}"),
        Env(name="COMMITLAKE_HOME", value=STATE_DIR),
    ]
    inputs = None
    if stage.fan_out_over:
        # One pod per item of the list the upstream stage printed: that item is this pod's only source.
        inputs = [Parameter(name=REPO_INPUT)]
        env.append(Env(name="COMMITLAKE_REPOS", value=f"{{{{inputs.parameters.{REPO_INPUT}}}}}"))
    elif "COMMITLAKE_REPOS" in stage.config_env:
        env.append(Env(name="COMMITLAKE_REPOS", value=f"{{{{workflow.parameters.{REPOS_PARAMETER}}}}}"))
    env.extend(_secret_env(stage.secret_env))
    return Container(
        name=stage.name,
        image=image_for(stage, image_prefix, version),
        image_pull_policy="IfNotPresent",
        command=list(stage.command),
        inputs=inputs,
        env_from=[ConfigMapEnvFrom(name=CONFIG_MAP, optional=False)],
        env=env,
        resources=_resources(stage.resources),
        volumes=_volumes(),
        security_context=_container_security(),
        pod_security_context=_pod_security(),
        active_deadline_seconds=_int_or_string(stage.timeout_seconds),
        retry_strategy=_retry(stage.retries),
        labels=labels(stage.name, version),
        annotations={"workflows.argoproj.io/description": stage.summary},
    )


def exit_container(image_prefix: str = IMAGE_REPOSITORY, version: str = __version__) -> Container:
    """The exit handler: `commitlake status --record-exit <workflow.status>` into ops.pipeline_runs."""
    return Container(
        name=EXIT_HANDLER,
        image=image_for(EXIT_IMAGE_STAGE, image_prefix, version),
        image_pull_policy="IfNotPresent",
        command=["commitlake", "status", "--record-exit", "{{workflow.status}}"],
        env_from=[ConfigMapEnvFrom(name=CONFIG_MAP, optional=False)],
        env=[
            Env(name="COMMITLAKE_RUN_ID", value="{{workflow.name}}"),
            Env(name="COMMITLAKE_HOME", value=STATE_DIR),
            *_secret_env(("DATABASE_URL",)),
        ],
        resources=_resources(EXIT_RESOURCES),
        volumes=_volumes(),
        security_context=_container_security(),
        pod_security_context=_pod_security(),
        active_deadline_seconds=_int_or_string(EXIT_TIMEOUT_SECONDS),
        retry_strategy=_retry(2),
        labels=labels(EXIT_HANDLER, version),
    )


def workflow_template(image_prefix: str = IMAGE_REPOSITORY, version: str = __version__) -> WorkflowTemplate:
    """The pipeline as a DAG: fan-out ingest over plan's list, then the remaining stages in their order."""
    with WorkflowTemplate(
        name=WORKFLOW_TEMPLATE_NAME,
        labels={k: v for k, v in labels("pipeline", version).items() if k != "app.kubernetes.io/name"},
        annotations={"workflows.argoproj.io/description": "commitlake pipeline: " + " → ".join(s.name for s in STAGES)},
        entrypoint=DAG_NAME,
        service_account_name=SERVICE_ACCOUNT,
        arguments=[
            Parameter(
                name=REPOS_PARAMETER,
                value=REPOS_FROM_CONFIG,
                description="Source URIs for this run, whitespace-separated (default: COMMITLAKE_REPOS "
                "from the commitlake-config ConfigMap).",
            )
        ],
        synchronization=Synchronization(mutexes=[Mutex(name=WAREHOUSE_MUTEX)]),
        pod_gc=PodGC(strategy="OnPodSuccess", delete_delay_duration="10m"),
        ttl_strategy=TTLStrategy(seconds_after_success=86400, seconds_after_failure=7 * 86400),
        on_exit=EXIT_HANDLER,
    ) as template:
        containers = {stage.name: stage_container(stage, image_prefix, version) for stage in STAGES}
        exit_container(image_prefix, version)
        with DAG(name=DAG_NAME, parallelism=FAN_OUT_PARALLELISM):
            tasks: dict[str, Task] = {}
            for stage in STAGES:
                if stage.fan_out_over:
                    tasks[stage.name] = Task(
                        name=stage.name,
                        template=containers[stage.name],
                        with_param=f"{{{{tasks.{stage.fan_out_over}.outputs.result}}}}",
                        arguments={REPO_INPUT: "{{item}}"},
                        # One repository that cannot be read (exit EXIT_PARTIAL, or out of retries) must not
                        # keep the others' manifests from being loaded: as in the local runner, the DAG goes on
                        # and the failed items stay visible in ops.pipeline_runs and the Argo UI.
                        continue_on=ContinueOn(failed=True),
                    )
                else:
                    tasks[stage.name] = Task(name=stage.name, template=containers[stage.name])
            for stage in STAGES:
                for upstream in stage.depends_on:
                    tasks[upstream] >> tasks[stage.name]
    return template


def cron_workflow(version: str = __version__) -> CronWorkflow:
    """Nightly run of the template; never two at once (the template's mutex also covers manual runs)."""
    return CronWorkflow(
        name="commitlake-nightly",
        labels={k: v for k, v in labels("pipeline", version).items() if k != "app.kubernetes.io/name"},
        schedules=["0 3 * * *"],
        timezone="Etc/UTC",
        concurrency_policy="Forbid",
        starting_deadline_seconds=3600,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=3,
        workflow_template_ref=WorkflowTemplateRef(name=WORKFLOW_TEMPLATE_NAME),
    )


def example_workflow(version: str = __version__) -> Workflow:
    """What `commitlake submit --repos ...` creates (built by the same function)."""
    return workflow_for(["github:commitizen/cz-cli", "github:pallets/click"], version=version)
