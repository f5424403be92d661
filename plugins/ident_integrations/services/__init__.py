"""What a service is: its hook, its Airflow connection type, and per capability it supports the
source that turns the hook's raw records into that capability's records.

A service is one module (``services/<name>.py``) exposing a :class:`Service`, listed once in
``ident_integrations.registry``. Its hook lives in ``ident_hooks`` (no IDENT-database access).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ident_integrations.config import ResolvedCapability

if TYPE_CHECKING:  # the hooks (and requests) load when a task runs, not when DAGs are parsed
    from ident_hooks.exchange import ExchangeRecorder


@dataclass(frozen=True)
class Service:
    name: str  # the `service:` value in integrations.yaml
    conn_type: str  # the Airflow connection type its hook reads (from the local provider)
    hook_path: str  # "module:Class", imported only when a run needs it: DAG parsing stays light
    sources: Mapping[str, Any] = field(default_factory=dict)  # capability -> that capability's source
    pool: str | None = None  # an Airflow pool of its own for its DAGs' tasks (one that must not queue)
    # capability -> (the capability it needs enabled too, why): NaPopravku's slots go out only after
    # its appointments are in, so its schedule export needs its lead import.
    needs: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def supports(self, capability: str) -> bool:
        return capability in self.sources

    def source(self, capability: str) -> Any:
        try:
            return self.sources[capability]
        except KeyError:
            raise ValueError(f"service {self.name!r} has no source for {capability!r}") from None

    def hook_class(self) -> type:
        module, _, name = self.hook_path.partition(":")
        return getattr(importlib.import_module(module), name)

    def hook(self, settings: ResolvedCapability, on_exchange: ExchangeRecorder | None = None) -> Any:
        """The service's hook for one integration, with its request settings and exchange log."""
        return self.hook_class()(
            settings.conn_id,
            timeout_seconds=settings.request.timeout_seconds,
            request_attempts=settings.request.request_attempts,
            request_backoff_seconds=settings.request.request_backoff_seconds,
            on_exchange=on_exchange,
        )
