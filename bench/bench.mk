# Proof targets (included by the Makefile): end-to-end benchmark, chaos rounds, mutation testing, classifier ablations. None runs in CI.
.PHONY: bench-scale chaos mutation ml-ablations

bench-scale: $(VENV)/.installed-dev ## commitlake run at 10k and 100k commits (1M when quiet): bench/results/e2e.{json,png}
	$(BIN)/python bench/bench_e2e.py --million-if-quiet

chaos: $(VENV)/.installed-dev ## kill -9 / db restart / GitHub faults in every stage, CHAOS_ROUNDS rounds: bench/results/chaos.json
	$(BIN)/python bench/chaos.py --rounds $(or $(CHAOS_ROUNDS),50)

mutation: $(VENV)/.installed-dev ## cosmic-ray over the core modules (MODULES="ratelimit loader ...", SAMPLE=0.3): bench/results/mutation.json
	$(UV_SYNC) --inexact $(addprefix --extra ,$(subst $(comma), ,$(DEV_EXTRAS))) --extra mutation
	@rm -f $(VENV)/.installed-dev  # the next `make test` syncs the venv back to exactly the dev set
	nice -n 15 $(BIN)/python bench/mutation.py $(if $(MODULES),--modules $(MODULES)) $(if $(SAMPLE),--sample $(SAMPLE))

ml-ablations: $(VENV)/.installed-dev ## the classifier with one change at a time (ONLY="name ..." for some), scored on unseen repositories, LRO and the time split: bench/results/ml-ablations.json
	$(BIN)/python bench/ml_ablations.py $(if $(ONLY),--only $(ONLY))
