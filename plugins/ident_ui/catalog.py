"""The page's rows: one per enabled integration and capability, read from the integrations file the
DAGs are built from (``ident_integrations.config``), so the page always lists exactly the DAGs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ident_integrations.config import ConfigBase, ConfigError, config_path, load_config


@dataclass(frozen=True)
class CatalogRow:
    integration: str
    service: str
    capability: str
    dag_id: str
    interval_minutes: int
    watched: bool  # leads in watch mode: runs start on new leads, not every interval

    def as_json(self) -> dict:
        return {
            "integration": self.integration,
            "service": self.service,
            "capability": self.capability,
            "dag_id": self.dag_id,
            "interval_minutes": self.interval_minutes,
            "watched": self.watched,
        }


@dataclass(frozen=True)
class Catalog:
    rows: tuple[CatalogRow, ...]
    timezone: ZoneInfo
    ident_conn_id: str

    def dag_ids(self) -> set[str]:
        return {row.dag_id for row in self.rows}

    def integrations(self, capability: str | None = None) -> list[str]:
        names = [row.integration for row in self.rows if capability in (None, row.capability)]
        return list(dict.fromkeys(names))


def catalog() -> Catalog:
    """The current integrations file as rows; re-read only when the file changes."""
    path = config_path()
    try:
        changed = path.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"Cannot read integrations file {path}: {exc.strerror}") from None
    return _catalog(str(path), changed)


@functools.lru_cache(maxsize=2)
def _catalog(path: str, _changed: int) -> Catalog:
    config: ConfigBase = load_config(path)
    rows = tuple(
        CatalogRow(
            integration=resolved.integration,
            service=resolved.service,
            capability=resolved.capability,
            dag_id=resolved.dag_id,
            interval_minutes=resolved.block.interval_minutes,
            watched=getattr(resolved.block, "mode", None) == "watch",
        )
        for resolved in config.enabled()
    )
    return Catalog(rows=rows, timezone=ZoneInfo(config.clinic.timezone), ident_conn_id=config.clinic.ident_conn_id)
