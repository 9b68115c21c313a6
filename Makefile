# One-command set-up: `make demo` and `make test` both create .venv and install everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.genotool-installed
PLUGIN_DIRS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
# Plugins' optional extras installed for the test suite (reference implementations).
PLUGIN_SPECS := $(foreach d,$(PLUGIN_DIRS),-e $(d:%/=%)$(if $(findstring gencode,$(d)),[reference],))
PYTEST_ARGS ?= -n 2
DEMO_OUT ?= demo_out

.PHONY: install demo test system-deps clean help

help:
	@echo "make demo    set up .venv and run simulate -> preprocess -> train -> validate for every built-in plugin"
	@echo "make test    set up .venv and run the test suite"

install: $(STAMP)

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml) examples/genotool-hello/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: the local 2.13.0 CPU build. A looser requirement resolved before
	# torch is installed would pull the newest CUDA build (several GB).
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[torch,jax,tensorboard,test]' $(PLUGIN_SPECS)
	$(MAKE) --no-print-directory system-deps
	touch $(STAMP)

# scrappie (ONT's research basecaller, Debian package) for `genotool codec dorado-validate`.
system-deps:
	@if command -v scrappie >/dev/null 2>&1; then echo "scrappie: $$(command -v scrappie)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q scrappie >/dev/null \
	  && echo "scrappie installed"; \
	else echo "warning: scrappie not installed (sudo apt-get install scrappie); codec basecaller checks will be skipped"; fi

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS) tests $(wildcard plugins/*/tests) examples/genotool-hello/tests

clean:
	rm -rf $(VENV) $(DEMO_OUT)
