# tickpipe: `make demo` and `make test` are all a new machine needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tickpipe needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing tickpipe and its dependencies into $(VENV) ..."
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[local,dev]'
	@touch $@

demo: $(STAMP)  ## run a whole simulated NSE session through the local pipeline
	$(PY) -m tickpipe demo

test: $(STAMP)  ## run the test suite
	$(PY) -m pytest -q

bench: $(STAMP)  ## run every benchmark and print its figures
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info tickpipe-out
