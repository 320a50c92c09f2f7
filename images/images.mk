# Container images (included by the Makefile). Tags: $(COMMITLAKE_IMAGE_PREFIX)/<name>:<package version>.
#   BASE_IMAGE=local/python:3.11-bookworm make images    build on a local base (no registry needed)
#   KIND_CLUSTER=commitlake make kind-load               load the images into a kind cluster
# One Dockerfile (images/Dockerfile) for every stage image; each installs its extra from uv.lock.
.PHONY: images images-lint kind-load

images: ## build every stage image from images/Dockerfile and uv.lock (BASE_IMAGE, COMMITLAKE_IMAGE_PREFIX override)
	images/build.sh build

images-lint: $(VENV)/.installed-dev lock-check ## hadolint the Dockerfile; check uv.lock matches pyproject.toml
	$(BIN)/hadolint images/Dockerfile

kind-load: images ## load the stage images into the kind cluster KIND_CLUSTER (default: commitlake)
	images/build.sh kind-load
