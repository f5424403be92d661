"""The demo network is deterministic: the same seed and moment give the same network, another seed
another one; its days run from a week ago to ``days_ahead`` ahead in the clinic's time."""

from datetime import UTC, datetime, timedelta

from ident_integrations import demo_data

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def test_the_same_seed_gives_the_same_network_and_another_seed_another():
    first = demo_data.generate(seed=3, now=NOW)
    assert demo_data.generate(seed=3, now=NOW) == first
    other = demo_data.generate(seed=4, now=NOW)
    assert other.doctors != first.doctors and other.appointments != first.appointments
    assert (len(first.branches), len(first.doctors)) == (3, 25)
    assert len({p.id for p in first.patients}) == len(first.patients)
    assert [a.id for a in first.appointments] == list(range(1, len(first.appointments) + 1))


def test_the_hour_it_is_generated_at_changes_only_statuses():
    morning, evening = demo_data.generate(now=NOW), demo_data.generate(now=NOW + timedelta(hours=8))
    assert evening.work_intervals == morning.work_intervals and evening.patients == morning.patients
    times = [(a.doctor_id, a.starts_at, a.ends_at, a.patient_id) for a in morning.appointments]
    assert [(a.doctor_id, a.starts_at, a.ends_at, a.patient_id) for a in evening.appointments] == times
    assert [a.status for a in evening.appointments] != [a.status for a in morning.appointments]


def test_the_days_run_from_a_week_ago_to_days_ahead():
    network = demo_data.generate(days_ahead=5, now=NOW)
    today = NOW.date()  # 12:30 in Moscow
    assert (network.first_day, network.last_day) == (today - timedelta(days=7), today + timedelta(days=5))
    assert min(w.starts_at for w in network.work_intervals).date() >= network.first_day - timedelta(days=1)
    assert max(w.ends_at for w in network.work_intervals).date() <= network.last_day
    assert network.doctors_added_at < NOW  # the staff predates the demo's one exclusion
