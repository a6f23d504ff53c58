# The verbs a newcomer types. Everything runs as root on Debian 12 (the sandbox needs
# network namespaces); the Python side lives in .venv.
PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
HOSTS     ?= 3
PVE       ?= 8
SB        := tests/sandbox

.PHONY: install lock test unit lint demo sandbox sandbox-down bench bench-apply bench-lxc clean

# Exact versions come from requirements.lock (pip constraints); pyproject keeps the ranges.
$(BIN)/phoenix: pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $@

install: $(BIN)/phoenix ## create .venv with phoenix and the dev tools

lock: ## re-resolve every dependency within pyproject's ranges into requirements.lock
	rm -rf .lock-venv && $(PY) -m venv .lock-venv
	.lock-venv/bin/pip install -q -e '.[dev]'
	{ echo "# Exact versions of every dependency (pyproject keeps the ranges). Regenerate: make lock"; \
	  .lock-venv/bin/pip freeze --all --exclude-editable | grep -v '^pip=='; } > requirements.lock
	rm -rf .lock-venv

unit: install ## fast tests, no sandbox
	$(BIN)/pytest -q -m "not sandbox"

test: install ## all tests: unit + sandbox integration (builds and starts sandbox hosts)
	bash $(SB)/prereqs.sh
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check phoenix_remote tests bench
	$(BIN)/mypy phoenix_remote

sandbox: install ## start HOSTS sandbox hosts (PVE=8, 9 or 8,9); writes .sandbox/inventory.yaml
	bash $(SB)/prereqs.sh
	$(BIN)/python -m tests.sandbox up $(HOSTS) --pve $(PVE)

sandbox-down: ## stop every sandbox host and remove all it created
	$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PY)) -m tests.sandbox down

demo: sandbox-demo-host ## one sandbox host: plan, apply, verify
	bash $(SB)/demo.sh

sandbox-demo-host: install
	bash $(SB)/prereqs.sh
	$(BIN)/python -m tests.sandbox purge 1
	$(BIN)/python -m tests.sandbox up 1

bench: install ## phoenix verify vs pyinfra --dry vs ansible --check, 1 and BENCH_HOSTS hosts
	$(BIN)/python bench/compare.py $(or $(BENCH_HOSTS),20) $(or $(BENCH_REPS),3)

bench-apply: install ## first/second apply and verify at 1 and BENCH_HOSTS hosts
	$(BIN)/python bench/verify_fleet.py $(or $(BENCH_HOSTS),20)

bench-lxc: install ## the sandbox's containers on 1 and BENCH_HOSTS hosts (default 5)
	$(BIN)/python bench/lxc_fleet.py $(or $(BENCH_HOSTS),5)

clean: sandbox-down
	rm -rf $(VENV) .sandbox
