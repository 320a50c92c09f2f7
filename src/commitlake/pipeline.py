"""The one pipeline definition.

Both executors read this list: the local runner (`commitlake run`) walks it in order, and the Hera code in
`workflows/` turns it into an Argo WorkflowTemplate. It knows nothing of either executor, so adding a stage
means adding one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from commitlake import __version__

__all__ = ["IMAGES", "IMAGE_EXTRAS", "IMAGE_REPOSITORY", "STAGES", "Resources", "Stage", "image_for", "stage_by_name"]

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
    """One step of the pipeline: a `commitlake <name>` command in the image `image`."""

    name: str
    summary: str
    image: str
    depends_on: tuple[str, ...] = ()
    #: Run once per repository (Argo `withParam` over the output of the stage named here).
    fan_out_over: str | None = None
    #: Prints the JSON list that a fan-out stage iterates over (Argo captures stdout as its result).
    emits_fan_out_list: bool = False
    retries: int = 2
    timeout_seconds: int = 3600
    resources: Resources = field(default_factory=Resources)
    #: Environment variables the stage reads from plain configuration.
    config_env: tuple[str, ...] = ()
    #: Environment variables the stage reads from a Secret.
    secret_env: tuple[str, ...] = ()

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
        depends_on=("ingest",),
        resources=Resources("500m", "512Mi", "2", "1Gi"),
        config_env=_LAKE,
        secret_env=(*_LAKE_SECRETS, *_DB_SECRETS),
    ),
    Stage(
        name="transform",
        summary="dbt build: raw → staging → analytics, with data tests and unit tests.",
        image="transform",
        depends_on=("load",),
        resources=Resources("500m", "512Mi", "2", "2Gi"),
        secret_env=_DB_SECRETS,
    ),
    Stage(
        name="validate",
        summary="Great Expectations suites on every layer; a critical failure stops the pipeline here.",
        image="quality",
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
        depends_on=("validate",),
        retries=1,
        resources=Resources("500m", "1Gi", "2", "4Gi"),
        config_env=(*_MLFLOW, *_LAKE),
        secret_env=(*_DB_SECRETS, *_LAKE_SECRETS),
    ),
    Stage(
        name="predict",
        summary="Score unlabelled commits with the model aliased 'champion' into analytics.commit_type_predictions.",
        image="train",
        depends_on=("train",),
        retries=1,
        resources=Resources("250m", "512Mi", "1", "2Gi"),
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
