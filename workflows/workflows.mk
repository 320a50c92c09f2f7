# Argo Workflows (included by the Makefile): Hera renders the manifests from commitlake.pipeline.STAGES.
.PHONY: workflows workflows-check submit

workflows: $(VENV)/.installed-dev ## render workflows/rendered/*.yaml and the chart's files/ copies from the Hera code
	$(BIN)/python -m commitlake_workflows.render

workflows-check: $(VENV)/.installed-dev ## fail if the rendered YAML differs from the Hera code
	$(BIN)/python -m commitlake_workflows.render --check

submit: $(VENV)/.installed-dev ## start a run on Argo (ARGO_SERVER, ARGO_NAMESPACE, ARGO_TOKEN; REPOS="...")
	$(BIN)/commitlake submit $(if $(REPOS),--repos $(REPOS))
