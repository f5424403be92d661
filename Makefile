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

# Forget the demo state (Airflow metadata, demo IDENT database, sandbox key, logs).
clean:
	rm -rf .airflow
