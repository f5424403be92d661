"""Doctors' calendars: one Airflow DAG per integration with a `calendar:` block, ident_calendar__<integration>.

Built from include/integrations.yaml by ident_integrations.dag_factory; see dags/ident_shared.py.
"""

from ident_integrations.dag_factory import dag_file_part

globals().update(dag_file_part("calendar", __file__))
