"""Start a pipeline run on Argo Workflows: a Workflow that references the installed WorkflowTemplate.

The WorkflowTemplate itself is rendered from the pipeline definition by the Hera code in `workflows/` and
installed by the Helm chart; this module only names it and asks the Argo Server for a run, so the names below
are the contract both sides share. The template name carries the package version (like the image tags), so a
client never starts a template built for other images: a version mismatch fails with "not found".
Hera is imported inside the functions: it belongs to the `workflows` extra, not to every image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from commitlake import __version__
from commitlake.errors import CommitlakeError

if TYPE_CHECKING:
    from hera.workflows import Workflow

__all__ = [
    "REPOS_PARAMETER",
    "RUN_NAME_PREFIX",
    "WORKFLOW_TEMPLATE_NAME",
    "submit",
    "template_name",
    "workflow_for",
]

#: Workflow parameter holding the source URIs of one run (whitespace-separated, as COMMITLAKE_REPOS).
REPOS_PARAMETER = "repos"
#: Runs are named `commitlake-<random>`; the name doubles as COMMITLAKE_RUN_ID in every stage.
RUN_NAME_PREFIX = "commitlake-"


def template_name(version: str = __version__) -> str:
    """`commitlake-pipeline-0.1.0`: the WorkflowTemplate built for the images tagged `version`."""
    return f"commitlake-pipeline-{version}"


WORKFLOW_TEMPLATE_NAME = template_name()


def workflow_for(repos: Sequence[str] = (), *, namespace: str | None = None, version: str = __version__) -> Workflow:
    """A Workflow that runs the installed template; without `repos` the template's default applies."""
    from hera.workflows import Workflow
    from hera.workflows.models import WorkflowTemplateRef

    arguments = {REPOS_PARAMETER: " ".join(repos)} if repos else None
    return Workflow(
        generate_name=RUN_NAME_PREFIX,
        namespace=namespace,
        labels={"app.kubernetes.io/part-of": "commitlake", "app.kubernetes.io/version": version},
        workflow_template_ref=WorkflowTemplateRef(name=template_name(version)),
        arguments=arguments,
    )


def submit(
    argo_server: str,
    namespace: str,
    token: str | None,
    repos: list[str],
    *,
    verify_ssl: bool = True,
    version: str = __version__,
) -> str:
    """Create one run through the Argo Server API (Hera's WorkflowsService); returns the workflow name.

    Server refusals (401, 404 for a template of another version, ...) and connection failures become one
    CommitlakeError, so `commitlake submit` reports them in a line.
    """
    import requests
    from hera.exceptions import HeraException
    from hera.workflows import WorkflowsService

    workflow = workflow_for(repos, namespace=namespace, version=version)
    with WorkflowsService(host=argo_server, namespace=namespace, token=token, verify_ssl=verify_ssl) as service:
        workflow.workflows_service = service
        try:
            created = workflow.create()
        except (HeraException, requests.RequestException) as exc:
            raise CommitlakeError(f"Argo Server {argo_server} refused {template_name(version)}: {exc}") from exc
    name = created.metadata.name
    if not name:
        raise CommitlakeError(f"the Argo Server at {argo_server} returned a workflow without a name")
    return name
