"""SMS delivery statuses: one Airflow DAG per integration with a `sms_status:` block, ident_sms_status__<integration>.

Built from include/integrations.yaml by ident_integrations.dag_factory; see dags/ident_shared.py.
"""

from ident_integrations.dag_factory import dag_file_part

globals().update(dag_file_part("sms_status", __file__))
