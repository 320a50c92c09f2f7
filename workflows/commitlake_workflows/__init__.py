"""Argo Workflows objects for commitlake, built with Hera from commitlake.pipeline.STAGES (see build.py)."""

from commitlake_workflows.build import cron_workflow, example_workflow, stage_container, workflow_template

__all__ = ["cron_workflow", "example_workflow", "stage_container", "workflow_template"]
