"""The one pipeline definition.

Both executors read this graph: the local runner (`commitlake run`) executes it in dependency order with the
same fan-out, retries and timeouts, and the Hera code in `workflows/` turns it into an Argo WorkflowTemplate.
It knows nothing of either executor, so adding a stage means adding one entry here (and its function).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from commitlake import __version__
from commitlake.config import DEFAULT_INGEST_CONCURRENCY

__all__ = [
    "FAN_OUT_LIST",
    "FAN_OUT_PARALLELISM",
    "IMAGES",
    "IMAGE_EXTRAS",
    "IMAGE_REPOSITORY",
    "RETRY_BACKOFF",
    "STAGES",
    "Backoff",
    "Resources",
    "Stage",
    "image_for",
    "stage_by_name",
]

#: At most this many fan-out items at once, in Argo (the DAG's parallelism) as in the local runner's default
#: (COMMITLAKE_INGEST_CONCURRENCY overrides it locally).
FAN_OUT_PARALLELISM = DEFAULT_INGEST_CONCURRENCY
#: Key of the list a fan-out source stage keeps in its run record (ops.pipeline_runs.details) and prints.
FAN_OUT_LIST = "repos"


@dataclass(frozen=True)
class Backoff:
    """Wait before retry n (n = 1, 2, ...): first_seconds * factor**(n-1), at most cap_seconds."""

    first_seconds: float = 30
    factor: int = 2
    cap_seconds: float = 600

    def seconds(self, retry: int) -> float:
        return float(min(self.first_seconds * self.factor ** (retry - 1), self.cap_seconds))


#: Backoff between retries of a stage that exited with the transient exit code, in both executors.
RETRY_BACKOFF = Backoff()

#: Image names are `<IMAGE_REPOSITORY>/<component>:<version>`; CI overrides the prefix with COMMITLAKE_IMAGE_PREFIX.
IMAGE_REPOSITORY = "commitlake"


@dataclass(frozen=True)
class Resources:
    """Kubernetes-style requests and limits for one stage's container."""

    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline: `function` (module:attribute) run by `commitlake <name>` in the image `image`."""

    name: str
    summary: str
    image: str
    #: The function both executors run, `module:attribute`, taking a StageContext and returning a StageResult.
    function: str
    #: What the stage reads and writes (documentation the tests keep honest about order: a stage reads only
    #: what a stage it depends on writes, or what exists before the run).
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    #: Run once per repository (Argo `withParam` over the output of the stage named here).
    fan_out_over: str | None = None
    #: Combines the results of the fan-out items into one (`module:attribute`), for the local runner's summary.
    merge: str | None = None
    #: Judges the stage's whole result (`module:attribute`, StageResult → CommitlakeError | None): an error stops
    #: the run after this stage although each input was handled (every source failed). Fan-out items are not
    #: judged one by one: one failed repository must not stop the others.
    verdict: str | None = None
    #: Prints the JSON list that a fan-out stage iterates over (Argo captures stdout as its result); the list is
    #: also kept in its run record as details[FAN_OUT_LIST].
    emits_fan_out_list: bool = False
    retries: int = 2
    timeout_seconds: int = 3600
    resources: Resources = field(default_factory=Resources)
    #: Environment variables the stage reads from plain configuration.
    config_env: tuple[str, ...] = ()
    #: Environment variables the stage reads from a Secret.
    secret_env: tuple[str, ...] = ()
    #: The local runner starts a new process for this stage, shared with the stages after it up to the next
    #: one that asks for its own (commitlake.stage_process): what earlier stages imported and allocated does
    #: not add to its peak. Argo runs every stage in a pod of its own anyway.
    fresh_process: bool = False

    @property
    def command(self) -> tuple[str, ...]:
        return ("commitlake", self.name)


_LAKE = ("COMMITLAKE_LAKE_URI", "AWS_ENDPOINT_URL_S3", "AWS_REGION")
_LAKE_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
_DB_SECRETS = ("DATABASE_URL",)
_MLFLOW = ("MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL")

STAGES: tuple[Stage, ...] = (
    Stage(
        name="plan",
        summary="Expand the source URIs (github:OWNER/* included) into one list of repositories.",
        image="ingest",
        function="commitlake.stages.plan:run",
        inputs=("config:COMMITLAKE_REPOS", "github:API"),
        outputs=("ops.pipeline_runs:plan.repos", "stdout:json-list"),
        emits_fan_out_list=True,
        timeout_seconds=600,
        resources=Resources("100m", "128Mi", "500m", "256Mi"),
        config_env=("COMMITLAKE_REPOS", "GITHUB_API_URL"),
        secret_env=("GITHUB_TOKEN", *_DB_SECRETS),
    ),
    Stage(
        name="ingest",
        summary="Fetch commits from each source into immutable gzip JSON-lines objects in the raw lake.",
        image="ingest",
        function="commitlake.stages.ingest:run",
        inputs=("ops.pipeline_runs:plan.repos", "ops.ingest_state", "github:API"),
        outputs=("lake:raw", "ops.ingest_state"),
        merge="commitlake.stages.ingest:merge",
        verdict="commitlake.stages.ingest:nothing_ingested",
        depends_on=("plan",),
        fan_out_over="plan",
        retries=3,
        resources=Resources("250m", "256Mi", "1", "512Mi"),
        config_env=("COMMITLAKE_REPOS", "GITHUB_API_URL", "COMMITLAKE_MAX_REQUESTS", "COMMITLAKE_WITH_FILES", *_LAKE),
        secret_env=("GITHUB_TOKEN", *_LAKE_SECRETS, *_DB_SECRETS),
    ),
    Stage(
        name="load",
        summary="COPY new lake objects into raw.github_commits exactly once; bad records to raw.rejected_records.",
        image="ingest",
        function="commitlake.stages.load:run",
        inputs=("lake:raw",),
        outputs=("raw.github_commits", "raw.rejected_records"),
        depends_on=("ingest",),
        resources=Resources("500m", "512Mi", "2", "1Gi"),
        config_env=(*_LAKE, "COMMITLAKE_LOAD_STREAMS"),
        secret_env=(*_LAKE_SECRETS, *_DB_SECRETS),
    ),
    Stage(
        name="transform",
        summary="dbt build: raw → staging → analytics, with data tests and unit tests.",
        image="transform",
        function="commitlake.stages.transform:run",
        inputs=("raw.github_commits",),
        outputs=("staging", "analytics"),
        depends_on=("load",),
        resources=Resources("500m", "512Mi", "2", "2Gi"),
        secret_env=_DB_SECRETS,
    ),
    Stage(
        name="validate",
        summary="Great Expectations suites on every layer; a critical failure stops the pipeline here.",
        image="quality",
        function="commitlake.stages.validate:run",
        inputs=("raw", "staging", "analytics"),
        outputs=("ops.data_quality_results",),
        depends_on=("transform",),
        retries=1,
        resources=Resources("250m", "512Mi", "1", "2Gi"),
        # The lake: GX's Data Docs for the run are written there.
        config_env=_LAKE,
        secret_env=(*_DB_SECRETS, *_LAKE_SECRETS),
    ),
    Stage(
        name="train",
        summary="Train the commit-type classifier on the feature table; log and register it in MLflow.",
        image="train",
        function="commitlake.stages.train:run",
        inputs=("analytics.ml_commit_features",),
        outputs=("mlflow:model",),
        depends_on=("validate",),
        retries=1,
        resources=Resources("500m", "1Gi", "2", "4Gi"),
        fresh_process=True,  # the memory peak: not on top of dbt's and Great Expectations' 400 MB
        config_env=(*_MLFLOW, *_LAKE, "COMMITLAKE_PROMOTION_MARGIN", "COMMITLAKE_KEEP_MODEL_VERSIONS",
                    "COMMITLAKE_TRAIN_BUDGET_SECONDS", "COMMITLAKE_TRAIN_MAX_ROWS",
                    "COMMITLAKE_TRAIN_SEARCH_ROWS", "COMMITLAKE_TRAIN_JOBS"),
        secret_env=(*_DB_SECRETS, *_LAKE_SECRETS),
    ),
    Stage(
        name="predict",
        summary="Score unlabelled commits with the model aliased 'champion' into analytics.commit_type_predictions.",
        image="train",
        function="commitlake.stages.predict:run",
        inputs=("mlflow:model", "analytics.ml_commit_features"),
        outputs=("analytics.commit_type_predictions",),
        depends_on=("train",),
        retries=1,
        resources=Resources("250m", "512Mi", "2", "2Gi"),
        config_env=(*_MLFLOW, *_LAKE),
        secret_env=(*_DB_SECRETS, *_LAKE_SECRETS),
    ),
)

IMAGES: tuple[str, ...] = tuple(dict.fromkeys(stage.image for stage in STAGES))

#: Image → the pyproject extra it installs (images/Dockerfile's EXTRA): each image carries only its own group.
IMAGE_EXTRAS: dict[str, str] = {"ingest": "ingest", "transform": "transform", "quality": "quality", "train": "ml"}


def stage_by_name(name: str) -> Stage:
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise KeyError(f"no stage named {name!r}; stages: {', '.join(s.name for s in STAGES)}")


def image_for(stage: Stage, prefix: str = IMAGE_REPOSITORY, tag: str = __version__) -> str:
    """The image reference a stage runs in, tagged with the package version."""
    return f"{prefix}/{stage.image}:{tag}"
