"""Alembic environment of the IDENT database, run only through ident_integrations.store.migrate.

Online, the caller hands over a connection it already holds the schema lock on; offline
(``ident db sql``), the dialect name comes in ``config.attributes["dialect"]``.
"""

from alembic import context

from ident_integrations.store.migrate import VERSION_TABLE
from ident_integrations.store.tables import metadata

config = context.config
common = {"target_metadata": metadata, "version_table": VERSION_TABLE, "compare_type": True}

if context.is_offline_mode():
    context.configure(dialect_name=config.attributes["dialect"], literal_binds=True, **common)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes["connection"]
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite", **common)
    with context.begin_transaction():
        context.run_migrations()
