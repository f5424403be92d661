"""IDENT's "Проверка кэша интеграций", done the Airflow way: DAG ``ident_cache_check``, daily in
the early morning (clinic time), re-pulls the last ``cache_check.days`` closed days of every enabled
integration whose capability can be checked (calls, leads), compares them with what is stored —
missing, extra and changed rows per day, with pandas — repairs the differences, and writes a
per-day report to the task log and to ``ident_cache_check_report``.

A capability takes part by declaring ``check`` (see :class:`Check`): it fetches the range and
hands both sides to :func:`compare_by_day`; this module runs it, logs and stores the report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, task

from ident_integrations.config import ConfigBase, ResolvedCapability

if TYPE_CHECKING:  # pandas is imported by the functions that use it: DAG files parse without it
    import pandas as pd

log = logging.getLogger(__name__)
DAG_ID = "ident_cache_check"
COLUMNS = ["key", "at", "hash"]  # one record: its key as text, its time (aware UTC), its content hash
COUNTS = ["fetched", "stored", "missing", "extra", "changed"]


@dataclass
class Comparison:
    """The result of comparing a range: per-record status and the per-day report."""

    rows: pd.DataFrame  # key, day, status (missing / extra / changed / same)
    report: pd.DataFrame  # index day; columns COUNTS

    def keys(self, *statuses: str) -> list[str]:
        return self.rows.loc[self.rows.status.isin(statuses), "key"].tolist()


# (settings, start, end) -> the comparison, with the repair already done
Check = Callable[[ResolvedCapability, datetime, datetime], Comparison]


def compare_by_day(source: pd.DataFrame, stored: pd.DataFrame, tz: ZoneInfo) -> Comparison:
    """Both frames have COLUMNS. A key only at the source is missing, only stored is extra, on both
    sides with another hash changed. Days are clinic days, taken from the record's time."""
    import pandas as pd

    merged = source.merge(stored, on="key", how="outer", suffixes=("_source", "_stored"), indicator=True)
    status = pd.Series("same", index=merged.index)
    status[merged["_merge"] == "left_only"] = "missing"
    status[merged["_merge"] == "right_only"] = "extra"
    status[(merged["_merge"] == "both") & (merged["hash_source"] != merged["hash_stored"])] = "changed"
    at = merged["at_source"].fillna(merged["at_stored"])
    day = pd.to_datetime(at, utc=True).dt.tz_convert(tz.key).dt.date
    rows = pd.DataFrame({"key": merged["key"], "day": day, "status": status})
    report = pd.DataFrame(
        {
            "fetched": rows[merged["_merge"] != "right_only"].groupby("day").size(),
            "stored": rows[merged["_merge"] != "left_only"].groupby("day").size(),
            **{name: rows[rows.status == name].groupby("day").size() for name in ("missing", "extra", "changed")},
        },
        columns=COUNTS,
    )
    return Comparison(rows, report.fillna(0).astype(int))


def frame(records: list[tuple[str, datetime, str]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(records, columns=COLUMNS)


def reconcile(
    fetched: Mapping[str, Any], at: Callable[[Any], datetime], stored: list[tuple[str, datetime, str]], tz: ZoneInfo
) -> tuple[Comparison, list[Any]]:
    """Compare the re-pulled records (key -> record with a ``content_hash``; ``at`` gives its time)
    with the stored (key, time, hash) rows; returns the comparison and the records to write back."""
    source = frame([(key, at(record), record.content_hash) for key, record in fetched.items()])
    comparison = compare_by_day(source, frame(stored), tz)
    return comparison, [fetched[key] for key in comparison.keys("missing", "changed")]


def closed_days(days: int, now: datetime, tz: ZoneInfo) -> list[date]:
    """The last ``days`` closed clinic days: yesterday and the days before it, oldest first."""
    today = now.astimezone(tz).date()
    return [today - timedelta(days=n) for n in range(days, 0, -1)]


def run_check(settings: ResolvedCapability, check: Check, days: int, now: datetime | None = None) -> pd.DataFrame:
    """Check and repair one integration's capability over the last ``days`` closed days; returns the
    per-day report (every checked day, zeros included) after logging and storing it."""
    from ident_integrations.store.cache_check import write_report

    tz = settings.tz
    checked = closed_days(days, now or datetime.now(UTC), tz)
    start = pendulum.datetime(checked[0].year, checked[0].month, checked[0].day, tz=tz.key)
    end = start.add(days=days)
    log.info("Cache check of %s %s: %s .. %s", settings.integration, settings.capability, checked[0], checked[-1])
    comparison = check(settings, start, end)
    report = comparison.report.reindex(checked, fill_value=0)
    report["repaired"] = report[["missing", "extra", "changed"]].sum(axis=1)
    for day, row in report.iterrows():
        log.info(
            "  %s: fetched %d, stored %d, missing %d, extra %d, changed %d%s",
            day, row.fetched, row.stored, row.missing, row.extra, row.changed,
            " — repaired" if row.repaired else "",
        )  # fmt: skip
    write_report(settings, datetime.now(UTC), report.to_dict(orient="index"))
    return report


def build_dag(config: ConfigBase) -> DAG | None:
    """One task per enabled integration × capability that can be checked; None when there is none."""
    from ident_integrations.capabilities import default_args
    from ident_integrations.registry import CAPABILITIES, SERVICES

    checks = [
        (settings, CAPABILITIES[settings.capability].check)
        for settings in config.enabled()
        if getattr(SERVICES[settings.service].sources.get(settings.capability), "repullable", True)
    ]
    checks = [(settings, check) for settings, check in checks if check is not None]
    if not config.cache_check.enabled or not checks:
        return None
    settings_cc = config.cache_check
    hour, minute = settings_cc.at.split(":")
    doc = f"""
## Cache check ("Проверка кэша интеграций")

Every day at {settings_cc.at} ({config.clinic.timezone}) each task re-pulls the last
{settings_cc.days} closed day(s) of one integration from its service and compares them with the
IDENT database: rows **missing** from the database, **extra** rows the service no longer has, rows
**changed** at the source since they were loaded. It repairs every difference (upsert, delete) and
writes one line per day to the task log and to `ident_cache_check_report`.

Tasks: {", ".join(f"`{settings.capability}__{settings.integration}`" for settings, _ in checks)}.
Settings: `cache_check:` in the integrations file (`enabled`, `days`, `at`).
"""
    with DAG(
        dag_id=DAG_ID,
        description=f"Re-pull the last {settings_cc.days} closed days of every integration and repair differences",
        schedule=CronTriggerTimetable(f"{int(minute)} {int(hour)} * * *", timezone=config.clinic.timezone),
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args=default_args(checks[0][0], shared=True),
        tags=["ident", "cache_check"],
        doc_md=doc,
    ) as dag:
        for settings, check in checks:
            _check_task(settings, check, settings_cc.days)
    return dag


def _check_task(settings: ResolvedCapability, check: Check, days: int) -> Any:
    @task(
        task_id=f"{settings.capability}__{settings.integration}",
        doc_md=f"Check and repair {settings.capability} of {settings.integration} over the last {days} closed days.",
        owner=settings.task.owner,
    )
    def check_task() -> dict:
        report = run_check(settings, check, days)
        return {str(day): {k: int(v) for k, v in row.items()} for day, row in report.iterrows()}

    return check_task()
