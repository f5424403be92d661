"""NaPopravku appointments as leads with dag.test(): stored in MariaDB with every mapped field,
then each acknowledged right after the commit (refused with the reason when it cannot be stored),
nothing left to be auto-cancelled; never acknowledged when the commit fails; an acknowledgement
that failed is made by the next run; one that cannot be made in time fails the run on its first
try (the alert); two imports of one integration at the same time store each appointment once."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from ident_hooks.napopravku import NaPopravkuHook
from ident_integrations.records.leads import validate_leads
from ident_integrations.services.napopravku import acknowledge, appointment_ticket
from tests.helpers import as_utc, connection_json, dags_for, query, smsc_messages

pytestmark = pytest.mark.e2e
ON_CALL = "+79990001122"


def appointment(n: int, *, phone: str | None = "+79115550000", created: datetime | None = None) -> dict:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2, hours=n)
    body = {
        "uuid": str(uuid.uuid4()),
        "clinic": {"id": 1, "name": "Клиника на Невском", "comment": None, "last_activity_at": None,
                   "mis_clinic_id": "1"},
        "doctor": {"id": 7, "name": "Смирнова Ольга Викторовна", "comment": None, "last_activity_at": None,
                   "mis_doctor_id": "12"},
        "mis_service_id": None, "start_time": f"{start:%Y-%m-%d %H:%M:%S}",
        "end_time": f"{start + timedelta(minutes=30):%Y-%m-%d %H:%M:%S}",
        "patient_surname": "Иванова", "patient_firstname": "Анна", "patient_father_name": "Сергеевна",
        "patient_gender": "female", "patient_phone": phone, "patient_email": f"p{n}@example.com",
        "patient_birthday": "1990-05-01", "comment": "Хочу на чистку", "source": "site",
    }  # fmt: skip
    if created is not None:
        body["created_at"] = created.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    return body


@pytest.fixture
def np_account(sandbox, monkeypatch):
    account = f"n{uuid.uuid4().hex[:10]}"
    host = f"{sandbox.base_url}/napopravku/{account}/api/v1"
    monkeypatch.setenv("AIRFLOW_CONN_NP_TEST", connection_json(conn_type="ident_napopravku", host=host,
                                                                 password=sandbox.key))  # fmt: skip
    yield account
    sandbox._control("DELETE", f"/napopravku/{account}/state")


def integrations(**defaults) -> dict:
    return {
        "defaults": defaults,
        "integrations": [{"name": "np", "service": "napopravku", "conn_id": "np_test", "leads": {}}],
    }


@pytest.fixture
def np_dag(airflow_metadata_db, np_account, ident_mysql, tmp_path, monkeypatch):
    dags = dags_for(integrations(request_backoff_seconds=0.05, task_retries=0), tmp_path, monkeypatch)
    assert "ident_cache_check" not in dags  # appointments cannot be re-pulled by day
    return dags["ident_leads__np"]


@pytest.fixture
def np_dag_as_deployed(airflow_metadata_db, np_account, smsc_account, ident_mysql, tmp_path, monkeypatch):
    """The DAG with the default task retries (3, from 60 s apart) and the failure alert by SMS; only
    the hook's backoff between the attempts of one request is shortened."""
    alerts = {"sms_to": [ON_CALL], "smsc_conn_id": "smsc_test"}
    dag = dags_for(integrations(request_backoff_seconds=0.05, alerts=alerts), tmp_path, monkeypatch)["ident_leads__np"]
    task = dag.get_task("import_leads")
    assert (task.retries, task.retry_delay) == (3, timedelta(seconds=60))  # the defaults, untouched
    return dag


def inject(sandbox, account: str, body: dict) -> dict:
    return sandbox._control("POST", f"/napopravku/{account}/appointments", json=body)["stored"]


def acknowledgements(sandbox, account: str) -> dict[str, dict]:
    return sandbox._control("GET", f"/napopravku/{account}/acknowledgements")["acknowledgements"]


def stats(sandbox, account: str) -> dict:
    return sandbox._control("GET", f"/napopravku/{account}/stats")


def set_received_failing(sandbox, account: str, failing: bool) -> None:
    """Only ``POST appointments/set-received`` answers 503 (the listing works) while ``failing``."""
    sandbox._control("PUT", f"/napopravku/{account}/set_received_failure", json={"failing": failing})


def test_appointments_are_stored_then_acknowledged_and_refused_with_the_reason(
    np_dag, sandbox, np_account, ident_mysql
):
    good = [inject(sandbox, np_account, appointment(n)) for n in range(2)]
    bad = inject(sandbox, np_account, appointment(9, phone=None))
    assert all(task.pool == "ident_napopravku" for task in np_dag.tasks)

    run = np_dag.test()

    assert run.state == "success"
    stored = dict(query(ident_mysql, "SELECT external_id, doctor_name FROM ident_leads"))
    assert stored == {a["uuid"]: "Смирнова Ольга Викторовна" for a in good}
    assert_mapped(ident_mysql, good[1])
    acks = acknowledgements(sandbox, np_account)
    assert {u: acks[u]["success"] for u in acks} == {**{a["uuid"]: True for a in good}, bad["uuid"]: False}
    assert "ClientPhone" in acks[bad["uuid"]]["message"]
    assert [r[0] for r in query(ident_mysql, "SELECT external_id FROM ident_rejects")] == [bad["uuid"]]
    now = NaPopravkuHook("np_test").appointments([a["uuid"] for a in good])
    assert [(a["is_received"], a["is_cancelled"]) for a in now] == [(True, False)] * 2  # none left to cancel
    again = np_dag.test()  # nothing left unreceived: nothing to load
    assert again.state == "success" and query(ident_mysql, "SELECT COUNT(*) FROM ident_leads") == [(2,)]


def assert_mapped(ident_mysql, sent: dict) -> None:
    """Every field NaPopravku's appointment maps to (services/napopravku.py appointment_ticket), in
    ``ident_leads`` as stored; the birthday, which IDENT's ticket has no field for, in raw_payload."""
    columns = (
        "external_id", "created_at", "surname", "name", "patronymic", "full_name", "phone_raw", "phone", "email",
        "comment", "form_name", "doctor_id", "doctor_name", "plan_start", "plan_end", "utm_source", "raw_payload",
    )  # fmt: skip
    (row,) = query(ident_mysql, f"SELECT {', '.join(columns)} FROM ident_leads WHERE external_id = %s", (sent["uuid"],))
    lead = dict(zip(columns, row, strict=True))
    for column in ("created_at", "plan_start", "plan_end"):
        lead[column] = as_utc(lead[column])
    raw = json.loads(lead.pop("raw_payload"))

    def utc(wire: str) -> datetime:  # "2025-04-08T14:34:49.000000Z" or "2025-04-10 09:30:00" (UTC)
        return datetime.fromisoformat(wire.replace("Z", "+00:00")).replace(tzinfo=UTC)

    assert lead == {
        "external_id": sent["uuid"],
        "created_at": utc(sent["created_at"]),
        "surname": "Иванова",
        "name": "Анна",
        "patronymic": "Сергеевна",
        "full_name": None,
        "phone_raw": "+79115550000",
        "phone": "+79115550000",
        "email": "p1@example.com",
        "comment": "Хочу на чистку",
        "form_name": "НаПоправку: site",  # source -> the form name
        "doctor_id": 12,  # doctor.mis_doctor_id
        "doctor_name": "Смирнова Ольга Викторовна",
        "plan_start": utc(sent["start_time"]),
        "plan_end": utc(sent["end_time"]),
        "utm_source": None,  # NaPopravku has no UTM tags
    }
    assert raw["patient_birthday"] == "1990-05-01"  # no column for it: kept in the payload as received
    assert raw == sent  # the appointment exactly as listed (unreceived)


def test_an_acknowledgement_that_failed_is_made_by_the_next_run(np_dag, sandbox, np_account, ident_mysql, caplog):
    good = [inject(sandbox, np_account, appointment(n)) for n in range(2)]
    bad = inject(sandbox, np_account, appointment(9, phone=None))
    set_received_failing(sandbox, np_account, True)

    first = np_dag.test()

    assert first.state == "success"  # fresh appointments: a warning, the next run retries
    for sent in (*good, bad):
        assert f"NaPopravku appointment {sent['uuid']} not acknowledged (next run retries)" in caplog.text
    assert sorted(r[0] for r in query(ident_mysql, "SELECT external_id FROM ident_leads")) == sorted(
        a["uuid"] for a in good
    )
    assert query(ident_mysql, "SELECT external_id FROM ident_rejects") == [(bad["uuid"],)]
    loaded = dict(query(ident_mysql, "SELECT external_id, first_loaded_at FROM ident_leads"))
    assert acknowledgements(sandbox, np_account) == {}
    before = stats(sandbox, np_account)
    assert (before["unreceived"], before["auto_cancelled"]) == (3, 0) and before["set_received_failed"] >= 3

    set_received_failing(sandbox, np_account, False)
    second = np_dag.test()

    assert second.state == "success"
    acks = acknowledgements(sandbox, np_account)
    assert {u: a["success"] for u, a in acks.items()} == {**{a["uuid"]: True for a in good}, bad["uuid"]: False}
    assert second.get_task_instance("announce_new_leads").state == "skipped"  # the run stored no new lead
    assert dict(query(ident_mysql, "SELECT external_id, first_loaded_at FROM ident_leads")) == loaded  # same rows
    assert query(ident_mysql, "SELECT COUNT(*), COUNT(DISTINCT external_id) FROM ident_leads") == [(2, 2)]
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_rejects") == [(1,)]
    after = stats(sandbox, np_account)
    assert (after["unreceived"], after["auto_cancelled"]) == (0, 0)


def test_nothing_is_acknowledged_when_the_commit_fails(np_dag, sandbox, np_account, ident_mysql, monkeypatch):
    """LeadStore.save is patched to fail: the IDENT database has to work for everything the run does
    before the commit (schema, sync state) and after it (the exchange log), and fail just at the
    commit of the leads, which no fault of the real database can aim at so precisely."""
    from ident_integrations.store.leads import LeadStore

    def save(*args, **kwargs):
        raise RuntimeError("IDENT database: the commit of the leads failed")

    monkeypatch.setattr(LeadStore, "save", save)
    sent = [inject(sandbox, np_account, appointment(n)) for n in range(2)]
    sent.append(inject(sandbox, np_account, appointment(9, phone=None)))

    run = np_dag.test()

    assert run.state == "failed"
    assert acknowledgements(sandbox, np_account) == {}  # none received (nor the reject refused): all come again
    assert stats(sandbox, np_account)["unreceived"] == 3
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_leads") == [(0,)]
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_exchange_log") != [(0,)]  # the database did work


def test_an_overdue_acknowledgement_fails_the_run_on_its_first_try_and_alerts(
    np_dag_as_deployed, sandbox, np_account, smsc_account, ident_mysql, caplog
):
    """An appointment booked 9 minutes ago whose acknowledgement fails: NaPopravku cancels it at
    10, so a retry of the task (60 s later) would find nothing left and succeed in silence. The run
    fails on its first try, with the uuid named, and the failure alert goes out."""
    old = inject(sandbox, np_account, appointment(1, created=datetime.now(UTC) - timedelta(minutes=9)))
    set_received_failing(sandbox, np_account, True)

    run = np_dag_as_deployed.test()

    assert run.state == "failed"
    ti = run.get_task_instance("import_leads")
    assert (ti.state, ti.try_number) == ("failed", 1)  # not up_for_retry: no retry at all
    assert "IDENT ALERT: ident_leads__np.import_leads failed on try 1: 1 NaPopravku appointment(s)" in caplog.text
    assert f"will be cancelled by NaPopravku at 10 min: {old['uuid']}; last error: " in caplog.text
    (sms,) = smsc_messages(sandbox, smsc_account)  # the failure alert, sent on the first try
    assert sms["recipient"] == ON_CALL
    assert sms["text"].startswith("IDENT FAILED: np — ident_leads__np, task import_leads, try 1: 1 NaPopravku")
    assert query(ident_mysql, "SELECT external_id FROM ident_leads") == [(old["uuid"],)]  # stored all the same
    assert stats(sandbox, np_account)["unreceived"] == 1 and acknowledgements(sandbox, np_account) == {}


@pytest.fixture(params=[pytest.param("ident_mysql", marks=pytest.mark.mariadb), "ident_sqlite"])
def ident_db(request):
    """A plain DB-API connection to the IDENT database of the test: MariaDB, or the SQLite file."""
    if request.param == "ident_mysql":
        yield request.getfixturevalue("ident_mysql")
        return
    conn = sqlite3.connect(request.getfixturevalue("ident_sqlite"))
    yield conn
    conn.close()


def test_two_imports_of_one_integration_at_once_store_each_appointment_once(sandbox, np_account, ident_db, monkeypatch):
    """The leads DAG and ident_schedule__np (which imports the leads first) may run import_leads at
    the same time (the pool ident_napopravku has 2 slots) and read the same unreceived appointments.
    Their saves are made to overlap: each, having read what is stored, waits up to 2 s for the other
    to have read too. Neither fails on the unique key; each appointment and the reject are stored
    once; every appointment is acknowledged."""
    from ident_integrations.capabilities.leads import import_leads
    from ident_integrations.config import parse_config
    from ident_integrations.store.leads import LeadStore

    good = [inject(sandbox, np_account, appointment(n)) for n in range(3)]
    bad = inject(sandbox, np_account, appointment(9, phone=None))
    settings = parse_config(integrations(request_backoff_seconds=0.05), "t").resolve("np", "leads")
    # The integration's sync state exists already (as after its first run): two *first* imports at
    # once can still collide on creating it (CapabilityStore._read_or_create_state), not tested here.
    LeadStore.open(settings).sync_state(enabled_today=datetime.now(settings.tz).date())
    both_read = threading.Barrier(2)
    read = LeadStore._existing_hashes

    def read_then_wait(self, conn, leads):
        existing = read(self, conn, leads)
        with contextlib.suppress(threading.BrokenBarrierError):  # the saves do not overlap: go on
            both_read.wait(timeout=2)
        return existing

    monkeypatch.setattr(LeadStore, "_existing_hashes", read_then_wait)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: import_leads(settings), range(2)))

    assert sorted(r.new for r in results) == [0, 3] and sorted(r.unchanged for r in results) == [0, 3]
    assert sorted(r[0] for r in query(ident_db, "SELECT external_id FROM ident_leads")) == sorted(
        a["uuid"] for a in good
    )
    assert query(ident_db, "SELECT external_id FROM ident_rejects") == [(bad["uuid"],)]
    acks = acknowledgements(sandbox, np_account)
    assert {u: a["success"] for u, a in acks.items()} == {**{a["uuid"]: True for a in good}, bad["uuid"]: False}
    assert stats(sandbox, np_account)["unreceived"] == 0


def test_an_acknowledgement_that_cannot_be_made_fails_the_run_once_the_deadline_nears(sandbox, np_account, caplog):
    """The service no longer knows these appointments (404), so their acknowledgement fails: a
    fresh one is left to the next run, one stored 9 minutes ago fails the run (the alert)."""
    from airflow.sdk.exceptions import AirflowFailException

    from ident_integrations.config import parse_config

    settings = parse_config(
        {"integrations": [{"name": "np", "service": "napopravku", "conn_id": "np_test", "leads": {}}]}, "t"
    ).resolve("np", "leads")
    hook = NaPopravkuHook("np_test", request_backoff_seconds=0.01)
    fresh, _ = validate_leads([appointment(1, created=datetime.now(UTC))], settings.tz, appointment_ticket, "uuid")
    acknowledge(hook, fresh, [], settings)  # a warning only: the next run retries
    assert "not acknowledged (next run retries)" in caplog.text
    old = datetime.now(UTC) - timedelta(minutes=9)
    overdue, _ = validate_leads([appointment(2, created=old)], settings.tz, appointment_ticket, "uuid")
    with pytest.raises(AirflowFailException, match="still unacknowledged and will be cancelled by NaPopravku"):
        acknowledge(hook, overdue, [], settings)
