# Two commands on a fresh machine: `make run` and `make test`.
# Both create .venv and install the project on first use, at the versions in
# requirements.lock (with their hashes): what CI tested is what a user gets.
# After changing dependencies in pyproject.toml: `make lock`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The app's own modules, compiled to bytecode when they change, as pip compiles every dependency it
# installs: a start never compiles them again, even where Python writes no bytecode itself
# (PYTHONDONTWRITEBYTECODE). Where the checkout cannot be written, the app still starts, compiling as it loads.
BYTECODE := $(VENV)/.bytecode-stamp
PORT   ?= 8501
# Tests run on as many pytest-xdist workers as there are cores; the browser tests all go to one of them
# (tests/conftest.py), one at a time. `make test PYTEST_ARGS="-n0 tests/client"` runs a part in one process.
PYTEST_ARGS ?= -n auto --dist loadgroup
# Loopback only by default: serving teammates is a choice (ADDRESS=0.0.0.0, with IMAGELAB_PASSWORD set; see README).
ADDRESS ?= 127.0.0.1

.PHONY: run test lint format lock bench sandbox clean ocr

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# The text check reads images with Tesseract: Debian's tesseract-ocr (English data included), run
# offline as a program. Installed here with apt-get when missing (as root, or through sudo); elsewhere
# install it yourself (macOS: brew install tesseract). Without it the text check fails and says why.
ocr:
	@command -v tesseract >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr >/dev/null; \
	  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr >/dev/null; \
	  else \
	    echo "Tesseract is not installed: the text check needs it (Debian: apt-get install tesseract-ocr)."; \
	    [ "$(CI)" != "true" ]; \
	  fi; }

$(BYTECODE): $(STAMP) $(shell find lib -name '*.py')
	@$(BIN)/python -m compileall -q lib >/dev/null || echo "The app's modules could not be compiled ahead; they compile as they load."
	touch $(BYTECODE)

# serve.py: `streamlit run streamlit_app.py`, with the app loaded while the first browser is on its way
run: $(STAMP) $(BYTECODE) ocr
	$(BIN)/python serve.py --server.port $(PORT) --server.address $(ADDRESS)

test: lint ocr
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 --generate-hashes -o requirements.lock

bench: $(STAMP)
	$(BIN)/python benchmarks/client.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/diagnostics.py
	$(BIN)/python benchmarks/history.py --sizes 100000
	$(BIN)/python benchmarks/media.py
	$(BIN)/python benchmarks/compare.py
	$(BIN)/python benchmarks/cancel.py
	$(BIN)/python benchmarks/checks.py

sandbox: $(STAMP)
	$(BIN)/imagelab sandbox --port 8765

clean:
	rm -rf $(VENV) *.egg-info
