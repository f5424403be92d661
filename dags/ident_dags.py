"""IDENT integrations for Airflow: one DAG per enabled integration and capability in
include/integrations.yaml (built by ident_integrations.dag_factory).

An invalid integrations file fails this import with one message naming the file, the
integration and the field, so it shows among the DAG import errors in the UI.
"""

from ident_integrations.dag_factory import build_dags

globals().update(build_dags())
