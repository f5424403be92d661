import re

import pytest

from ident_integrations.phones import PhoneError, check_phone, normalize_phone


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("+7 911 01 01 001", "+79110101001"),
        ("7(777)0010101", "+77770010101"),
        ("(911) 0010101", "+79110010101"),
        ("8-911-001-0101", "+79110010101"),
        ("8812-0000-111", "+78120000111"),
        ("89110010101", "+79110010101"),
        ("+44 20 7946 0958", None),  # foreign: kept as received, not forced into +7
        ("+3312345678", None),
    ],
)
def test_normalize(raw, normalized):
    assert check_phone(raw) == raw
    assert normalize_phone(raw) == normalized


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("8-911-001-0101 звоните после 18", "without extra text"),
        ("8 911 001 01 01, 8 911 002 02 02", "without extra text"),
        ("+89110001122", "domestic number written with a '+'"),
        ("12345", "has 5 digits"),
    ],
)
def test_rejected_phones_say_why(raw, reason):
    with pytest.raises(PhoneError, match=re.escape(reason)):
        check_phone(raw)
