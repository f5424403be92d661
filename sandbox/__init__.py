"""Local emulator of the external services the IDENT integrations talk to.

Run with ``python -m sandbox``; use :class:`sandbox.testing.SandboxServer` from tests.
"""
