"""The reminder templates and tags, quiet hours, the message id and the status mapping (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ident_integrations.store.messages import Visit


def visit(id_=1, start=datetime(2030, 3, 4, 12, 0, tzinfo=UTC), branch=1, tz="Europe/Moscow", **kw) -> Visit:
    fields = dict(
        appointment_id=id_, patient_id=7, surname="Иванова", name="Анна", patronymic="Сергеевна", phone="+79160000007",
        email="anna@example.ru", starts_at=start, doctor="Смирнова Ольга Викторовна", branch_id=branch,
        branch=f"Филиал {branch}", branch_address=f"Адрес {branch}", branch_phone=f"+7495000000{branch}",
        branch_timezone=tz,
    )  # fmt: skip
    fields.update(kw)
    return Visit(**fields)


def block(**fields):
    from ident_integrations.capabilities.sms import SmsSettings

    return SmsSettings(**fields)


def test_one_visit_uses_the_one_visit_template_and_every_tag():
    from ident_integrations.capabilities.reminders import compose

    settings = block(one_visit="{Пациент}|{Имя}|{Отчество}|{Прием}|{Приемы}|{Клиника}|{Телефон}",
                     visit_format="{ДеньНедели} {Дата} {Время} {Врач} {Филиал} {Адрес} {ТелефонФилиала}")  # fmt: skip
    variant, text = compose(settings, [visit()], network=False)
    one = "понедельник 04.03.2030 15:00 Смирнова Ольга Викторовна Филиал 1 Адрес 1 +74950000001"
    assert variant == "one_visit"
    assert text == f"Иванова Анна Сергеевна|Анна|Сергеевна|{one}|{one}|Филиал 1|+74950000001"


def test_several_visits_list_each_in_its_branch_time_and_the_network_format():
    from ident_integrations.capabilities.reminders import compose

    visits = [visit(1), visit(2, datetime(2030, 3, 5, 4, 0, tzinfo=UTC), branch=2, tz="Asia/Yekaterinburg")]
    variant, text = compose(block(several_visits="{Приемы}", visit_separator=" / "), visits, network=True)
    assert variant == "several_visits"
    assert text == (
        "04.03.2030 в 15:00, Филиал 1 (Адрес 1, тел. +74950000001), врач Смирнова Ольга Викторовна / "
        "05.03.2030 в 09:00, Филиал 2 (Адрес 2, тел. +74950000002), врач Смирнова Ольга Викторовна"
    )
    _, plain = compose(block(several_visits="{Приемы}"), visits, network=False)
    assert "Филиал" not in plain and "05.03.2030 в 09:00" in plain


def test_missing_patronymic_and_clinic_settings():
    from ident_integrations.capabilities.reminders import compose

    settings = block(clinic_name="Дента", clinic_phone="+74951112233")
    _, text = compose(settings, [visit(patronymic="")], network=False)
    assert text.startswith("Анна, напоминаем") and text.endswith("Дента, тел. +74951112233")


def test_an_unknown_tag_is_a_configuration_error_naming_it():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"unknown tag\(s\) \{Прием2\}"):
        block(one_visit="Привет {Прием2}")
    with pytest.raises(ValidationError, match=r"\{Пациент\}"):
        block(visit_format="{Пациент}")  # a message tag is not a visit tag


@pytest.mark.parametrize(
    ("utc", "quiet"),
    [
        ("2030-03-04T17:59", None),  # 20:59 Moscow
        ("2030-03-04T18:00", "2030-03-05T06:00"),  # 21:00 -> 09:00 next morning
        ("2030-03-04T23:30", "2030-03-05T06:00"),  # 02:30
        ("2030-03-05T05:59", "2030-03-05T06:00"),  # 08:59
        ("2030-03-05T06:00", None),  # 09:00
    ],
)
def test_quiet_hours_in_clinic_time(utc, quiet):
    from ident_integrations.capabilities.reminders import quiet_until
    from tests.integration.test_reminders import settings_for

    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    expected = datetime.fromisoformat(quiet).replace(tzinfo=UTC) if quiet else None
    assert quiet_until(settings_for("sms"), now) == expected
    assert quiet_until(settings_for("sms", quiet_hours=False), now) is None
    day = settings_for("sms", quiet_hours={"start": "13:00", "end": "14:00"})
    assert quiet_until(day, datetime(2030, 3, 4, 10, 30, tzinfo=UTC)) == datetime(2030, 3, 4, 11, 0, tzinfo=UTC)


def test_the_message_id_depends_on_integration_template_and_visits_only():
    from ident_integrations.capabilities.reminders import smsc_id

    one = smsc_id("site", "sms_reminder", (3, 1))
    assert one == smsc_id("site", "sms_reminder", (1, 3)) and len(one) == 16
    assert len({one, smsc_id("site", "email_reminder", (1, 3)), smsc_id("x", "sms_reminder", (1, 3)),
                smsc_id("site", "sms_reminder", (1,))}) == 4  # fmt: skip


@pytest.mark.parametrize(
    ("status", "err", "ours", "text"),
    [
        (-1, 0, None, "waiting to be sent (SMSC status -1)"),
        (0, 0, None, "handed to the operator (SMSC status 0)"),
        (1, 0, "delivered", "delivered (SMSC status 1)"),
        (2, 0, "delivered", "read (SMSC status 2)"),
        (20, 5, "undelivered", "cannot be delivered (SMSC status 20, error 5)"),
        (25, 0, "undelivered", "number unavailable (SMSC status 25)"),
        (-3, 0, None, "not found at SMSC (yet) (SMSC status -3)"),
    ],
)
def test_status_mapping(status, err, ours, text):
    from ident_integrations.capabilities.sms_status import status_values

    now = datetime(2030, 3, 4, tzinfo=UTC)
    values = status_values({"status": status, "err": err}, now)
    assert values.get("status") == ours and values["status_text"] == text
    assert (values.get("final_at") == now) == (ours is not None)


def test_hook_error_codes_are_classified():
    from ident_hooks.exchange import ServiceAuthError, ServiceResponseError, TransientServiceError
    from ident_hooks.smsc import SmscHook, SmscMessageError

    hook = SmscHook.__new__(SmscHook)
    hook._secret, hook._login = "s3cret", "clinic"
    kinds = {}
    for code in range(1, 10):
        try:
            hook._raise_error("send", {"error": f"text s3cret {code}", "error_code": code}, 1.0)
        except (ServiceAuthError, TransientServiceError, SmscMessageError, ServiceResponseError) as exc:
            kinds[code] = type(exc).__name__
            assert "s3cret" not in str(exc)
    assert kinds == {1: "ServiceResponseError", 2: "ServiceAuthError", 3: "SmscMessageError", 4: "ServiceAuthError",
                     5: "ServiceResponseError", 6: "SmscMessageError", 7: "SmscMessageError", 8: "SmscMessageError",
                     9: "TransientServiceError"}  # fmt: skip
