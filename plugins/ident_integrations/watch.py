"""Leads in seconds (``leads.mode: watch``): a trigger in Airflow's triggerer looks at the source every
``leads.watch_seconds`` and starts the lead DAG as soon as a lead appears that ``ident_leads`` does
not hold yet.

Why an ``AssetWatcher`` and not a deferrable sensor: a sensor needs a DAG run to exist, so every
watched integration would keep a run (and a task slot) open forever, and each lead would still wait
for the next run to be scheduled. A watcher belongs to the Asset the DAG is scheduled on: it lives in
the triggerer with no run at all, and its event creates the run. Between leads the scheduler has
nothing to do. The DAG also keeps an hourly run as a safety net (a triggerer that was down, a lead
dated earlier than the window the watcher looked at).

A look is the import's own window and fetch (so it sees exactly what a run would add), mapped to
leads, compared with what is stored; it writes nothing. Its requests are not written to
``ident_exchange_log`` (8,640 a day per integration); failures are in the triggerer's log, and
``max_consecutive_failures`` in a row stop the watcher with the error (the triggerer restarts it).
What a look asks only to apply the integration's rules and what rarely changes (UIS's employee
groups, for ``leads.exclude_groups``) is asked once every :data:`LOOKUP_MAX_AGE`, not at every look.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from ident_integrations.config import ResolvedCapability

log = logging.getLogger(__name__)
SAFETY_NET = timedelta(hours=1)  # a watched DAG still runs this often without any event
RESIGNAL_AFTER = timedelta(minutes=2)  # a signalled lead still pending this long is signalled again
# Hook methods whose answer a look reuses for LOOKUP_MAX_AGE: they serve the integration's rules and
# change rarely (UIS's employee groups: ``leads.exclude_groups`` is checked against them).
REMEMBERED_LOOKUPS = frozenset({"group_employees"})
LOOKUP_MAX_AGE = timedelta(minutes=5)


@contextmanager
def _quiet_mapping() -> Iterator[None]:
    """A look maps every lead of the window each time: its mapping warnings (e.g. Flexbe's unmapped
    fields) would repeat every few seconds; the import run states them once."""
    services = logging.getLogger("ident_integrations.services")
    level = services.level
    services.setLevel(logging.ERROR)
    try:
        yield
    finally:
        services.setLevel(level)


class _RememberingHook:
    """The watcher's hook: every attribute is the hook's own, but the methods of
    :data:`REMEMBERED_LOOKUPS` answer from memory until :data:`LOOKUP_MAX_AGE` has passed since they
    were asked (by the looks' clock, ``now``, which the watcher sets before each look; a clock that
    went back asks again)."""

    def __init__(self, hook: Any) -> None:
        self._hook = hook
        self._answers: dict[tuple, tuple[datetime, Any]] = {}
        self.now = datetime.now(UTC)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._hook, name)
        if name not in REMEMBERED_LOOKUPS:
            return attribute

        def remembered(*args: Any, **kwargs: Any) -> Any:
            key = (name, args, tuple(sorted(kwargs.items())))
            asked_at, answer = self._answers.get(key, (None, None))
            if asked_at is None or not timedelta(0) <= self.now - asked_at < LOOKUP_MAX_AGE:
                answer = attribute(*args, **kwargs)
                self._answers[key] = (self.now, answer)
            return answer

        return remembered


class LeadWatcher:
    """One integration's look at its source: which leads are there that still need a run.

    Pending is what a run would store and has not: a lead not in ``ident_leads``, a bad record not in
    ``ident_rejects``; for a service that is told what was taken (NaPopravku), everything it still
    lists, since it lists only what is not acknowledged. A pending key is signalled once, and again
    only if it is still pending :data:`RESIGNAL_AFTER` later (the run failed, or an acknowledgement
    did): a lead the running import has not committed yet starts no second run."""

    def __init__(self, settings: ResolvedCapability) -> None:
        from ident_integrations.registry import service_for
        from ident_integrations.store.leads import LeadStore

        self.settings = settings
        self.store = LeadStore.open(settings)
        service = service_for(settings)
        self.source = service.source("leads")
        self.hook = _RememberingHook(service.hook(settings))  # no exchange recorder: looks are not logged
        self.signalled: dict[str, datetime] = {}

    def look(self, now: datetime | None = None) -> list[str]:
        """Keys of the pending leads (and bad records, as ``reject|<hash>``) to signal now."""
        now = now or datetime.now(UTC)
        pending = self._pending(now)
        new = sorted(key for key in pending if now - self.signalled.get(key, now - RESIGNAL_AFTER) >= RESIGNAL_AFTER)
        self.signalled = {key: self.signalled[key] for key in pending if key in self.signalled}  # gone: forgotten
        self.signalled.update(dict.fromkeys(new, now))
        return new

    def _pending(self, now: datetime) -> set[str]:
        from ident_integrations.capabilities.leads import lead_window
        from ident_integrations.records import payload_hash
        from ident_integrations.store.leads import lead_key

        settings, tz, source = self.settings, self.settings.tz, self.source
        self.hook.now = now
        state = self.store.sync_state(enabled_today=now.astimezone(tz).date())
        start, end = lead_window(
            newest_lead_at=state.watermark,
            start_date=settings.block.start_date,
            enabled_on=state.enabled_on,
            now=now,
            tz=tz,
        )
        if start > end:
            return set()
        records = source.fetch(self.hook, start, end, settings)
        with _quiet_mapping():
            if source.exclude is not None:
                records, _ = source.exclude(self.hook, records, settings)
            leads, rejects = source.to_leads(self.hook, records, settings)
        keys = {lead_key(*lead.key) for lead in leads}
        hashes = {payload_hash(reject.raw) for reject in rejects}
        if source.acknowledge is None:
            keys -= {key for key, _, _ in self.store.stored(start, end + timedelta(seconds=1))}
            hashes -= self.store.known_rejects(list(hashes))
        return keys | {f"reject|{h}" for h in hashes}


def _watcher(integration: str) -> LeadWatcher:
    from ident_integrations.config import load_config

    return LeadWatcher(load_config().resolve(integration, "leads"))


class NewLeadsTrigger(BaseEventTrigger):
    """Fires (with ``{"integration", "new", "keys"}``) whenever a look finds new leads; runs until
    the triggerer stops it. Lives in ``plugins`` (on the triggerer's ``sys.path``), not ``dags/``."""

    def __init__(self, integration: str, watch_seconds: float = 10, max_consecutive_failures: int = 30) -> None:
        super().__init__()
        self.integration = integration
        self.watch_seconds = watch_seconds
        self.max_consecutive_failures = max_consecutive_failures

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "integration": self.integration,
                "watch_seconds": self.watch_seconds,
                "max_consecutive_failures": self.max_consecutive_failures,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        # Hooks and the IDENT database are synchronous; in a worker thread the event loop stays free
        # for the triggerer's other triggers (and the connection lookups go through its supervisor).
        watcher = await sync_to_async(_watcher, thread_sensitive=False)(self.integration)
        self.log.info("Watching %s for new leads every %g s", self.integration, self.watch_seconds)
        failures = 0
        while True:
            try:
                new = await sync_to_async(watcher.look, thread_sensitive=False)()
            except Exception as exc:
                failures += 1
                if failures >= self.max_consecutive_failures:
                    raise
                self.log.warning("Look at %s failed (%d/%d): %s", self.integration, failures,
                                 self.max_consecutive_failures, exc)  # fmt: skip
            else:
                failures = 0
                if new:
                    self.log.info("%d new lead(s) at %s: starting the import", len(new), self.integration)
                    yield TriggerEvent({"integration": self.integration, "new": len(new), "keys": new[:20]})
            await asyncio.sleep(self.watch_seconds)


def watch_schedule(settings: ResolvedCapability) -> Any:
    """The watched DAG's schedule: the Asset its watcher updates, or the hourly safety net."""
    from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, DeltaTriggerTimetable

    name = settings.integration
    trigger = NewLeadsTrigger(name, watch_seconds=settings.block.watch_seconds)
    watcher = AssetWatcher(name=f"ident_lead_watch__{name}", trigger=trigger)
    source = Asset(f"ident_lead_source__{name}", watchers=[watcher])
    return AssetOrTimeSchedule(timetable=DeltaTriggerTimetable(SAFETY_NET), assets=[source])
