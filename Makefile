# tickpipe: `make demo` and `make test` are all a new machine needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo backfill test bench lint clean scale lock lock-upgrade

# Dependencies come from requirements.lock (versions and hashes, the same the images ship), then
# tickpipe itself without resolving anything again.
$(STAMP): pyproject.toml setup.py native/bars_fold.c native/feed_decode.c native/json_columns.c requirements.lock infra/artifacts.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tickpipe needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing tickpipe and its locked dependencies into $(VENV) ..."
	@$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

LOCK_FLAGS = --all-extras --universal --python-version 3.11 --generate-hashes --quiet -o requirements.lock

lock: $(STAMP)  ## bring requirements.lock in line with pyproject.toml, keeping every pin it can
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_FLAGS)

lock-upgrade: $(STAMP)  ## re-resolve requirements.lock to the newest allowed versions (then make test)
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) --upgrade

demo: $(STAMP)  ## run a whole simulated NSE session through the local pipeline
	$(PY) -m tickpipe demo

backfill: $(STAMP)  ## a month of candles of 20 symbols at every resolution from the simulator, into tickpipe-out/history
	$(PY) -m tickpipe backfill --sim

test: $(STAMP)  ## run the test suite
	$(PY) -m pytest -q

bench: $(STAMP)  ## run every benchmark and print its figures
	$(PY) -m bench

scale: $(STAMP)  ## 5,000 symbols, two producers, 8 shards, 09:15-09:20 at real speed (~15 min; docs/cost.md)
	$(PY) -m tickpipe demo --symbols 5000 --producers 2 --shards 8 --to 09:20 --speed 1 --every-trade --out tickpipe-out/scale

lint: $(STAMP)  ## ruff over everything; mypy over the shipped packages (pyproject.toml [tool.mypy])
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info tickpipe-out _tickpipe_*.so

# --- infra (Terraform checks; no terraform binary needed) ------------------------------------
# checkov pins many packages of its own, so it lives in its own venv.
CHECKOV_VENV  ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
ARCH          ?= arm64

.PHONY: checkov lambda-layer package tf-check

$(CHECKOV_STAMP): infra/requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@echo "installing checkov into $(CHECKOV_VENV) (1-2 minutes, ~290 MB) ..."
	@$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
	@touch $@

checkov: $(CHECKOV_STAMP)  ## security/misconfiguration scan of infra/ (skips: infra/.checkov.yaml)
	$(CHECKOV_VENV)/bin/checkov --config-file infra/.checkov.yaml

test: $(CHECKOV_STAMP)

lambda-layer: $(STAMP)  ## build the Lambda dependency layer into infra/build/layer (ARCH=arm64|x86_64)
	$(PY) infra/build_layer.py --arch $(ARCH)

package: $(STAMP)  ## zip the functions' code and the layer for Terraform (infra/build/app.zip, layer.zip)
	$(PY) infra/package.py

tf-check: $(STAMP)  ## terraform fmt, validate, plan and apply against moto (needs terraform + provider mirror)
	$(PY) -m pytest -q -rs tests/infra/test_terraform.py
