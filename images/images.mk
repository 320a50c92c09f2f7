# Container images (included by the Makefile). Tags: $(COMMITLAKE_IMAGE_PREFIX)/<name>:<package version>.
#   BASE_IMAGE=local/python:3.11-bookworm make images    build on a local base (no registry needed)
#   KIND_CLUSTER=commitlake make kind-load               load the images into a kind cluster
.PHONY: images images-lint images-lock kind-load

images: ## build the base and every stage image (BASE_IMAGE, COMMITLAKE_IMAGE_PREFIX override)
	images/build.sh build

images-lint: $(VENV)/.installed-dev ## hadolint every Dockerfile; check the pinned requirements match .venv
	$(BIN)/hadolint images/*/Dockerfile
	$(BIN)/python images/lock.py --check

images-lock: $(VENV)/.installed-dev ## re-pin images/requirements/*.txt to the versions in .venv
	$(BIN)/python images/lock.py

kind-load: images ## load the stage images into the kind cluster $(KIND_CLUSTER) (default: commitlake)
	images/build.sh kind-load
