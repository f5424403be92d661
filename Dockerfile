# Airflow image with this project's pinned requirements, the local provider (ident_hooks) and the
# `ident` command (ident_integrations).
# Used by docker-compose.yaml; not built on the CI machine (it has no Docker engine).
FROM apache/airflow:3.3.2-python3.11

USER root
# mysqlclient builds against these; the reference image may not ship the MySQL client libraries.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libmariadb-dev build-essential \
 && rm -rf /var/lib/apt/lists/*
USER airflow

COPY --chown=airflow:0 requirements.txt constraints.txt pyproject.toml README.md /opt/airflow/
COPY --chown=airflow:0 plugins /opt/airflow/plugins
# Pinning apache-airflow keeps pip from changing the image's Airflow.
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /opt/airflow/requirements.txt -c /opt/airflow/constraints.txt \
 && pip install --no-cache-dir --no-deps -e /opt/airflow
