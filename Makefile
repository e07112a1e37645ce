VENV ?= .venv
BIN := $(VENV)/bin
export YOLO_OFFLINE := 1

.PHONY: setup demo test test-slow lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt scripts/install.sh
	bash scripts/install.sh

demo: setup  ## remaster the bundled sample archive into demo-out/
	$(BIN)/binaural demo --out demo-out

test: setup  ## the default test run (slow tests excluded)
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf .state demo-out
