"""Call history: one Airflow DAG per integration with a `calls:` block, ident_calls__<integration>.

Built from include/integrations.yaml by ident_integrations.dag_factory; see dags/ident_shared.py.
"""

from ident_integrations.dag_factory import dag_file_part

globals().update(dag_file_part("calls", __file__))
