"""The IDENT database: tables defined once (``tables``), migrations (``migrate``), the engine
(``database``), the shared capability-store base (``base``) and one store module per capability."""
