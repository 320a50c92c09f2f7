"""Start a pipeline run on Argo Workflows: a Workflow that references the installed WorkflowTemplate.

The WorkflowTemplate is rendered from the pipeline definition by `build.py` and installed by the Helm chart
under the stable name `commitlake` (commitlake.contract); this module asks the Argo Server for a run of it.
Hera belongs to the `workflows` extra: `commitlake submit` imports this module only when it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from commitlake import __version__
from commitlake.contract import LABEL_PART_OF, LABEL_VERSION, PART_OF, REPOS_PARAMETER, RUN_NAME_PREFIX
from commitlake.contract import WORKFLOW_TEMPLATE_NAME as TEMPLATE
from commitlake.errors import CommitlakeError, HostUnreachable

if TYPE_CHECKING:
    from hera.workflows import Workflow

__all__ = ["submit", "workflow_for"]


def workflow_for(repos: Sequence[str] = (), *, namespace: str | None = None, version: str = __version__) -> Workflow:
    """A Workflow that runs the installed template; without `repos` the template's default applies."""
    from hera.workflows import Workflow
    from hera.workflows.models import WorkflowTemplateRef

    arguments = {REPOS_PARAMETER: " ".join(repos)} if repos else None
    return Workflow(
        generate_name=RUN_NAME_PREFIX,
        namespace=namespace,
        labels={LABEL_PART_OF: PART_OF, LABEL_VERSION: version},
        workflow_template_ref=WorkflowTemplateRef(name=TEMPLATE),
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

    Server refusals (401, 404 when the chart is not installed, ...) and connection failures become one
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
        except (requests.ConnectionError, requests.Timeout) as exc:  # nobody answered: worth a retry (75)
            raise HostUnreachable(
                f"Argo Server {argo_server} is unreachable ({type(exc).__name__}): is the cluster up (`make "
                "kind-up`)? check --argo-server / ARGO_SERVER"
            ) from exc
        except (HeraException, requests.RequestException) as exc:
            raise CommitlakeError(f"Argo Server {argo_server} refused a run of {TEMPLATE}: {exc}") from exc
    name = created.metadata.name
    if not name:
        raise CommitlakeError(f"the Argo Server at {argo_server} returned a workflow without a name")
    return name
