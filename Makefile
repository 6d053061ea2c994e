# Two commands for a fresh machine (each does its own set-up):
#   make demo   — a real scenario on the embedded local target, ending with the report path
#   make test   — the test suite (what CI runs)
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)

.PHONY: setup demo test system-deps clean

# torch first, pinned exactly: any other spec can pull a multi-GB CUDA build. constraints.txt holds
# the versions last tested green, so pip does not spend minutes backtracking through resolutions.
$(STAMP): pyproject.toml constraints.txt
	@scripts/check-system.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# The default runtime images' Python environments, built once in ~/.cache/kserve-harness/runtimes and
# shared by every checkout: kserve-torchserve's (torch, torchvision, captum, TorchServe, kserve; ~5.5 GB,
# ~2 min) and the ModelServer's (kserve, torch; ~1.3 GB, ~1.5 min).
setup: $(STAMP)
	@$(VENV)/bin/harness runtime build >/dev/null
	@$(VENV)/bin/harness runtime build --runtime kserve >/dev/null

demo: setup
	$(VENV)/bin/harness run scenarios/digits.yaml --report-dir reports

system-deps:
	@scripts/install-system-deps.sh

test: setup system-deps
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) reports/*/
