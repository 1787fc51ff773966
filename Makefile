# InnerEarSeg: `make demo` runs the whole job on the bundled sample; `make test` runs the test suite.
# Both create .venv on first use. torch is pinned to the CPU wheel CI uses.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEMO_OUT ?= demo_output
# Text files (reports, manifests) are UTF-8 whatever the machine's locale.
export PYTHONUTF8 := 1

.PHONY: setup demo test bench clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(VENV)/bin/innerear-seg segment Resources/SampleData/InnerEarPhantom_ct.nrrd -o $(DEMO_OUT) --preview
	@echo "Outputs written to $(DEMO_OUT)/"

# OpenMP threads that spin while waiting make torch 3-4x slower on a busy 2-core CI machine.
test: setup
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest

bench: setup
	$(VENV)/bin/innerear-seg bench --generate-phantom

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
