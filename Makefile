# The two front-door commands; both set up what is missing first and are safe to run again.
.PHONY: demo test setup lint bench clean

demo: setup
	bash scripts/demo.sh

test: setup
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench: setup
	.venv/bin/python bench/bench_lead_import.py

# The multi-machine layout on this machine (no Docker): Airflow with the CeleryExecutor, PostgreSQL,
# our own redis-server, two workers on the queues default and clinic (scripts/stack.sh; README).
.PHONY: stack stack-stop stack-status
stack: setup
	bash scripts/stack.sh start

stack-stop:
	bash scripts/stack.sh stop

stack-status:
	bash scripts/stack.sh status

# Forget the demo state (Airflow metadata, demo IDENT database, sandbox key, logs).
clean:
	rm -rf .airflow

# Calls backfill benchmark: ours against dlt (bench/README.md). dlt lives in its own venv,
# bench/.venv-dlt, made from bench/requirements.txt (again when that file changes). ARGS="--days 30".
.PHONY: bench-calls
bench-calls: setup
	@if [ ! -f bench/.venv-dlt/.installed ] || [ bench/requirements.txt -nt bench/.venv-dlt/.installed ]; then \
	  echo "[bench-calls] preparing bench/.venv-dlt from bench/requirements.txt"; \
	  [ -x bench/.venv-dlt/bin/python ] || "$$(.venv/bin/python -c 'import sys; print(sys._base_executable)')" -m venv bench/.venv-dlt; \
	  bench/.venv-dlt/bin/python -m pip install -q -r bench/requirements.txt && touch bench/.venv-dlt/.installed; \
	fi
	bash scripts/ensure_mariadb.sh
	.venv/bin/python bench/calls_backfill.py $(ARGS)
