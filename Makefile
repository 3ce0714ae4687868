# Everything a newcomer needs, from a fresh clone with only Python >= 3.11 and pip:
#   make run    set up .venv and open the debugger on scenarios/accumulation.py
#   make test   set up .venv and run the whole test suite
# Other targets: make check (ruff + mypy, strict on gradtui), make bench (both benchmarks), make clean.
# Another interpreter: make test PYTHON=python3.12 (its own venv, .venv-python3.12).

PYTHON ?= python3
# The default interpreter's venv is .venv; any other gets one of its own, named after it, so
# that a run with PYTHON=python3.12 never reuses (or breaks) a venv another Python built.
VENV   := $(if $(filter python3,$(PYTHON)),.venv,.venv-$(notdir $(PYTHON)))
PY     := $(VENV)/bin/python
# The torch the tests were measured with. Installed only when the venv has no torch:
# an existing torch (CPU or CUDA build) is reused, never replaced.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup run test check bench clean

setup: $(VENV)/.installed

# A system Python that already has torch lends it to the venv (--system-site-packages)
# instead of downloading another multi-GB copy.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || { \
	  if $(PYTHON) -c "import torch" >/dev/null 2>&1; then \
	    echo "gradtui: reusing the torch installed for $(PYTHON)"; \
	    $(PYTHON) -m venv --system-site-packages $(VENV); \
	  else \
	    $(PYTHON) -m venv $(VENV); \
	  fi; }
	@$(PY) -c "import torch" >/dev/null 2>&1 || $(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test,dev]"
	@touch $@

run: setup
	$(VENV)/bin/gradtui scenarios/accumulation.py

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

# The second strict run checks for 3.12: mypy skips the sys.monitoring backend when checking for 3.11.
check: setup
	$(VENV)/bin/ruff check gradtui tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict gradtui
	$(VENV)/bin/mypy --strict --python-version 3.12 gradtui

bench: setup
	$(PY) benchmarks/record_overhead.py
	$(PY) benchmarks/step_latency.py

clean:
	rm -rf .venv .venv-* build *.egg-info .pytest_cache .mypy_cache .ruff_cache
