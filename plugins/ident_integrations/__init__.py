"""IDENT's integrations as Airflow DAGs: configuration and registries, capabilities, service
mappings, records, the IDENT database store, and the ``ident`` command (see docs/architecture.md)."""
