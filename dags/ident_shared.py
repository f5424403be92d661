"""IDENT integrations for Airflow: the DAGs shared across integrations (the lag alerts, the daily
cache check and retention, the new-leads example). Each capability's DAGs come from its own file,
dags/ident_<capability>.py, all built from include/integrations.yaml by ident_integrations.dag_factory.

An invalid integrations file fails this import with one message naming the file, the integration
and the field, so it shows among the DAG import errors in the UI.
"""

from ident_integrations.dag_factory import SHARED, dag_file_part

globals().update(dag_file_part(SHARED, __file__))
