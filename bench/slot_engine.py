"""Benchmark of the slot engine (``ident_integrations.slots``): plain Python against pandas/numpy.

It builds synthetic clinic networks in memory (no database): 3 branches (Moscow, Samara,
Yekaterinburg), doctors at one branch each (one in five also at a second branch on some days),
2 shifts a day (09:00-14:00 and 15:00-20:00 local) on every date of the horizon, appointments of
30-90 minutes filling about 65 % of the shift time (one in ten off the 15-minute grid by 5 or 10
minutes, one in twenty cancelled), 15-minute slots. ``now`` is 10:17 Moscow time on the first date.

For each network it times:

* ``python``   ``schedule_slots`` (free and busy, what ProDoctorov and PostTimeTable need);
* ``python``   ``free_slots`` (what NaPopravku needs);
* ``pandas``   the same as ``schedule_slots`` written as an event sweep: all shift and appointment
  edges in one DataFrame, sorted and summed per (group, instant), cumulative sums giving "working"
  and "booked" counters, runs of free segments joined into spans, ``numpy.repeat`` cutting them into
  slots, ``searchsorted`` dating them; then the same ``Slot`` objects are built. Its output is
  checked to be identical to the engine's.

Each figure is the best of ``--runs`` rounds, the engines taking turns within a round
(``gc.collect()`` before each); peak memory is a separate
run under ``tracemalloc`` (Python allocations only, the snapshot itself excluded). It prints figures
only; nothing passes or fails.

    .venv/bin/python bench/slot_engine.py                 # 25 doctors x 31 dates, then 100..1000 x 33
    .venv/bin/python bench/slot_engine.py --sizes 25      # only the small network
    .venv/bin/python bench/slot_engine.py --no-pandas     # only the engine
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time as clock
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from ident_integrations.records.schedule import (  # noqa: E402
    FREEING_STATUSES,
    Appointment,
    Branch,
    Doctor,
    ScheduleSnapshot,
    Slot,
    WorkInterval,
)
from ident_integrations.slots import free_slots, schedule_slots  # noqa: E402

BRANCHES = (
    Branch(1, "Стоматология на Ленина", "Europe/Moscow"),
    Branch(2, "Стоматология на Мира", "Europe/Samara"),
    Branch(3, "Стоматология на Малышева", "Asia/Yekaterinburg"),
)
SHIFTS = ((time(9), time(14)), (time(15), time(20)))
FIRST_DATE = datetime(2026, 3, 2).date()
NOW = datetime(2026, 3, 2, 10, 17, tzinfo=ZoneInfo("Europe/Moscow"))
SKIP_HOURS = 2


def build_network(doctors: int, days_ahead: int, seed: int = 9) -> ScheduleSnapshot:
    rng = random.Random(seed)
    zones = {b.id: ZoneInfo(b.timezone) for b in BRANCHES}
    staff = tuple(Doctor(n, f"Доктор {n}", "Стоматолог-терапевт", exported=n % 13 != 0) for n in range(1, doctors + 1))
    links: set[tuple[int, int]] = set()
    work: list[WorkInterval] = []
    booked: list[Appointment] = []
    for doctor in staff:
        home = BRANCHES[doctor.id % 3].id
        second = BRANCHES[(doctor.id + 1) % 3].id if doctor.id % 5 == 0 else None
        for day in range(days_ahead + 1):
            date = FIRST_DATE + timedelta(days=day)
            branch = second if second is not None and day % 3 == 2 else home
            links.add((doctor.id, branch))
            for start, end in SHIFTS:
                shift_start = datetime.combine(date, start, zones[branch]).astimezone(UTC)
                shift_end = datetime.combine(date, end, zones[branch]).astimezone(UTC)
                work.append(WorkInterval(doctor.id, branch, shift_start, shift_end))
                cursor = shift_start
                while cursor < shift_end:
                    if rng.random() < 0.45:  # an appointment here; else 15-45 free minutes
                        offset = timedelta(minutes=rng.choice((5, 10))) if rng.random() < 0.1 else timedelta()
                        length = timedelta(minutes=rng.choice((30, 45, 60, 60, 90)))
                        status = "cancelled" if rng.random() < 0.05 else rng.choice(("planned", "confirmed"))
                        booked.append(
                            Appointment(
                                len(booked) + 1, doctor.id, branch, cursor + offset, cursor + offset + length, status
                            )
                        )
                        cursor += offset + length
                    else:
                        cursor += timedelta(minutes=rng.choice((15, 15, 30, 45)))
    return ScheduleSnapshot(BRANCHES, staff, tuple(sorted(links)), tuple(work), tuple(booked), slot_minutes=15)


def booked_share(snapshot: ScheduleSnapshot) -> float:
    """Booked (not cancelled) appointment time over working time (appointments may run past a shift)."""
    worked = sum((w.ends_at - w.starts_at).total_seconds() for w in snapshot.work_intervals)
    taken = sum(
        (a.ends_at - a.starts_at).total_seconds() for a in snapshot.appointments if a.status not in FREEING_STATUSES
    )
    return taken / worked


# --- the pandas/numpy alternative ------------------------------------------------------------------


def schedule_slots_pandas(
    snapshot: ScheduleSnapshot, *, now: datetime, days_ahead: int = 30, skip_hours_today: float = 2
) -> list[Slot]:
    """The pandas/numpy version, with the garbage collector paused like the engine's."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _schedule_slots_pandas(snapshot, now=now, days_ahead=days_ahead, skip_hours_today=skip_hours_today)
    finally:
        if enabled:
            gc.enable()


def _schedule_slots_pandas(
    snapshot: ScheduleSnapshot, *, now: datetime, days_ahead: int, skip_hours_today: float
) -> list[Slot]:
    import numpy as np
    import pandas as pd

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    us = timedelta(microseconds=1)
    length = snapshot.slot_minutes * 60_000_000
    doctors = {d.id for d in snapshot.doctors if d.active}
    branch_ids = sorted(b.id for b in snapshot.branches)
    zones = {b.id: b.timezone for b in snapshot.branches}

    w = [
        (x.branch_id, x.doctor_id, (x.starts_at - epoch) // us, (x.ends_at - epoch) // us)
        for x in snapshot.work_intervals
    ]
    w = [row for row in w if row[1] in doctors and row[0] in zones]
    keys = {(b, d) for b, d, _, _ in w}
    a = [
        (x.branch_id, x.doctor_id, (x.starts_at - epoch) // us, (x.ends_at - epoch) // us)
        for x in snapshot.appointments
        if x.status not in FREEING_STATUSES and (x.branch_id, x.doctor_id) in keys
    ]
    wf = pd.DataFrame(w, columns=["b", "d", "s", "e"])
    af = pd.DataFrame(a, columns=["b", "d", "s", "e"])
    wf, af = wf[wf.e > wf.s], af[af.e > af.s]
    edges = pd.concat(
        [
            pd.DataFrame({"b": wf.b, "d": wf.d, "t": wf.s, "dw": 1, "db": 0}),
            pd.DataFrame({"b": wf.b, "d": wf.d, "t": wf.e, "dw": -1, "db": 0}),
            pd.DataFrame({"b": af.b, "d": af.d, "t": af.s, "dw": 0, "db": 1}),
            pd.DataFrame({"b": af.b, "d": af.d, "t": af.e, "dw": 0, "db": -1}),
        ],
        ignore_index=True,
    )
    ev = edges.groupby(["b", "d", "t"], sort=True)[["dw", "db"]].sum().reset_index()
    b, d, t = ev.b.to_numpy(), ev.d.to_numpy(), ev.t.to_numpy()
    working, taken = ev.dw.cumsum().to_numpy() > 0, ev.db.cumsum().to_numpy() > 0
    same = np.zeros(len(ev), dtype=bool)  # segment i = [t[i], t[i+1]) of the same group
    same[:-1] = (b[1:] == b[:-1]) & (d[1:] == d[:-1])
    nxt = np.append(t[1:], 0)

    def runs(mask):
        """Maximal runs of consecutive segments in ``mask``: (index of first, end instant)."""
        previous = np.append(False, mask[:-1])
        first = mask & ~previous
        last = mask & ~np.append(mask[1:], False)
        return np.flatnonzero(first), nxt[np.flatnonzero(last)]

    free_first, free_end = runs(working & ~taken & same)
    busy_first, busy_end = runs(working & taken & same)

    parts = []
    for branch in branch_ids:
        tz = ZoneInfo(zones[branch])
        today = now.astimezone(tz).date()
        days = [today + timedelta(days=n) for n in range(days_ahead + 2)]
        midnights = np.array([(datetime.combine(x, time(0), tzinfo=tz) - epoch) // us for x in days], dtype=np.int64)
        labels = np.array([x.isoformat() for x in days], dtype=object)
        cutoff = (now - epoch) // us + timedelta(hours=skip_hours_today) // us
        stop = midnights[-1]

        sel = free_first[b[free_first] == branch]
        fs, fe, fd = t[sel], free_end[b[free_first] == branch], d[sel]
        count = (fe - fs) // length
        rep = np.repeat(np.arange(len(fs)), count)
        n = np.arange(len(rep)) - np.repeat(np.cumsum(count) - count, count)
        s = fs[rep] + n * length
        keep = (s >= cutoff) & (s < stop)
        s, doc = s[keep], fd[rep][keep]
        parts.append(
            (
                np.full(len(s), branch),
                doc,
                s,
                s + length,
                np.zeros(len(s), bool),
                labels[np.searchsorted(midnights, s, "right") - 1],
            )
        )

        sel = busy_first[b[busy_first] == branch]
        bs, be, bd = t[sel], busy_end[b[busy_first] == branch], d[sel]
        keep = (be > cutoff) & (bs < stop)
        bs, be, bd = np.maximum(bs[keep], midnights[0]), be[keep], bd[keep]
        day0 = np.searchsorted(midnights, bs, "right") - 1
        day1 = np.minimum(np.searchsorted(midnights, be - 1, "right") - 1, len(midnights) - 2)
        pieces = day1 - day0 + 1
        rep = np.repeat(np.arange(len(bs)), pieces)
        day = day0[rep] + np.arange(len(rep)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        ps = np.maximum(bs[rep], midnights[day])
        pe = np.minimum(be[rep], midnights[day + 1])
        keep = ps >= cutoff
        parts.append(
            (
                np.full(keep.sum(), branch),
                bd[rep][keep],
                ps[keep],
                pe[keep],
                np.ones(keep.sum(), bool),
                labels[day[keep]],
            )
        )

    ob, od, os_, oe, obusy, olab = (np.concatenate(col) for col in zip(*parts, strict=True))
    order = np.lexsort((os_, od, ob))
    instants: dict[int, datetime] = {}

    def at(x: int) -> datetime:
        value = instants.get(x)
        if value is None:
            value = instants[x] = epoch + timedelta(microseconds=x)
        return value

    return [
        Slot(bb, dd, at(ss), at(ee), "busy" if busy else "free", lab)
        for bb, dd, ss, ee, busy, lab in zip(
            ob[order].tolist(),
            od[order].tolist(),
            os_[order].tolist(),
            oe[order].tolist(),
            obusy[order].tolist(),
            olab[order].tolist(),
            strict=True,
        )
    ]


# --- measuring -------------------------------------------------------------------------------------


def best_of(runs: int, engines: dict[str, Callable[[], list[Slot]]]) -> dict[str, tuple[float, list[Slot]]]:
    """Best time of each engine over ``runs`` rounds, the engines taking turns within a round (so a
    busy moment of the machine hits them alike)."""
    best: dict[str, tuple[float, list[Slot]]] = {name: (float("inf"), []) for name in engines}
    for _ in range(runs):
        for name, work in engines.items():
            gc.collect()
            started = clock.perf_counter()
            result = work()
            seconds = clock.perf_counter() - started
            if seconds < best[name][0]:
                best[name] = (seconds, result)
            del result
    return best


def peak_mib(work: Callable[[], list[Slot]]) -> float:
    gc.collect()
    tracemalloc.start()
    result = work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return peak / 2**20


def demo_network(days_ahead: int = 30) -> ScheduleSnapshot:
    """The network ``ident demo-data`` writes (3 branches, 25 doctors, a month of appointments)."""
    from ident_integrations.demo_data import generate

    net = generate(now=NOW, days_ahead=days_ahead)
    return ScheduleSnapshot(
        net.branches, net.doctors, net.doctor_branches, net.work_intervals, net.appointments, 15, NOW
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[25, 100, 200, 500, 1000], help="doctor counts")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-pandas", action="store_true")
    args = parser.parse_args()

    print(f"Python {sys.version.split()[0]}; now = {NOW.isoformat()}; skip {SKIP_HOURS} h; 15-minute slots")
    columns = ("doctors", 7), ("days", 4), ("shifts", 6), ("appts", 7), ("booked", 6), ("engine", -22)
    columns += ("slots", 8), ("ms/run", 8), ("slots/s", 10), ("peak MiB", 8)
    header = " ".join(name.rjust(width) if width > 0 else name.ljust(-width) for name, width in columns)
    print(header)
    print("-" * len(header))
    times: dict[tuple[str, int], float] = {}
    networks = [("demo", 30, demo_network(30))]  # ident demo-data's network first, then synthetic ones
    for doctors in args.sizes:
        days_ahead = 30 if doctors == 25 else 32  # the network; then NaPopravku's 32-day horizon
        networks.append((doctors, days_ahead, build_network(doctors, days_ahead)))
    for doctors, days_ahead, snap in networks:
        call = {"now": NOW, "days_ahead": days_ahead, "skip_hours_today": SKIP_HOURS}
        engines: dict[str, Callable[[], list[Slot]]] = {
            "python schedule_slots": lambda snap=snap, call=call: schedule_slots(snap, **call),
            "python free_slots": lambda snap=snap, call=call: free_slots(snap, **call),
        }
        if not args.no_pandas:
            engines["pandas schedule_slots"] = lambda snap=snap, call=call: schedule_slots_pandas(snap, **call)
        share = booked_share(snap)
        measured = best_of(args.runs, engines)
        reference = measured["python schedule_slots"][1]
        for name, work in engines.items():
            seconds, slots = measured[name]
            if name.startswith("pandas") and slots != reference:
                raise SystemExit(f"{name} differs from the engine at {doctors} doctors")
            times[(name, doctors)] = seconds
            network = f"{doctors:>7} {days_ahead + 1:>4} {len(snap.work_intervals):>6} {len(snap.appointments):>7}"
            rate = len(slots) / seconds
            print(f"{network} {share:>6.0%} {name:<22} {len(slots):>8} {seconds * 1000:>8.1f} {rate:>10,.0f} ", end="")
            print(f"{peak_mib(work):>8.1f}")
        del measured, reference
    for name in sorted({n for n, _ in times}):
        if (name, 500) in times and (name, 1000) in times:
            print(f"growth {name}: 1000 / 500 doctors = {times[(name, 1000)] / times[(name, 500)]:.2f}x")


if __name__ == "__main__":
    main()
