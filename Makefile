# Two commands on a fresh machine: `make run` and `make test`.
# Both create .venv and install the project on first use, at the versions in
# requirements.lock (with their hashes): what CI tested is what a user gets.
# After changing dependencies in pyproject.toml: `make lock`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8501
# Loopback only by default: serving teammates is a choice (ADDRESS=0.0.0.0, with IMAGELAB_PASSWORD set; see README).
ADDRESS ?= 127.0.0.1

.PHONY: run test lint format lock bench sandbox clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/streamlit run streamlit_app.py --server.port $(PORT) --server.address $(ADDRESS)

test: lint
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

sandbox: $(STAMP)
	$(BIN)/imagelab sandbox --port 8765

clean:
	rm -rf $(VENV) *.egg-info
