"""The Integrations page: an Airflow plugin (plugin.py) showing each integration's health, its exchange
log and rejects, and lead and call charts, from the IDENT database and Airflow's REST API."""
