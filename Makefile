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

# Debian tools the plugins compare against (each optional: without it the comparison row says why):
#   scrappie (ONT research basecaller) for `codec dorado-validate`; augustus (+ etraining) for
#   `gencode compare --augustus`; plink2 / plink1.9 and r-cran-susier (SuSiE) for `snp validate`.
SYSTEM_TOOLS := scrappie:scrappie augustus:augustus plink2:plink2 plink1.9:plink1.9 Rscript:r-cran-susier
system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do tool=$${pair%%:*}; pkg=$${pair#*:}; \
	  if [ "$$pkg" = r-cran-susier ]; then command -v Rscript >/dev/null 2>&1 && Rscript -e 'library(susieR)' >/dev/null 2>&1 && continue; \
	  else command -v $$tool >/dev/null 2>&1 && continue; fi; missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then echo "system tools: all present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null \
	  && echo "installed:$$missing" || echo "warning: could not install$$missing; the comparisons that need them are skipped"; \
	else echo "warning: not installed:$$missing (sudo apt-get install$$missing); the comparisons that need them are skipped"; fi

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS) tests $(wildcard plugins/*/tests) examples/genotool-hello/tests

clean:
	rm -rf $(VENV) $(DEMO_OUT)
