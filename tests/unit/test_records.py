"""The canonical JSON every payload is stored and hashed as: the same text the standard library
writes (so hashes stored before it was made faster still match), for what services send."""

import json
from datetime import datetime
from decimal import Decimal

import pytest

from ident_integrations.records import canonical_json


@pytest.mark.parametrize(
    "payload",
    [
        {"Id": "17", "ClientFullName": "Иванова «Анна»", "ClientPhone": 79161234567, "Comment": 'a "b" \\ c\n\td'},
        {"id": 1, "call_records": ["ab12", "cd34"], "is_lost": False, "utm_term": None, "wait_duration": 12},
        {"z": [1, 2.5, {"y": -0.0, "x": 0.1}], "a": "😀 \x01", "m": 123456789012345678901234567890},
        [],
        "text",
    ],
)
def test_canonical_json_is_the_standard_librarys_sorted_compact_text(payload):
    expected = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert canonical_json(payload) == expected


def test_values_json_has_no_type_for_are_written_as_text():
    assert canonical_json({"at": datetime(2026, 11, 2, 10, 15, 3), "n": Decimal("12.50")}) == (
        '{"at":"2026-11-02T10:15:03","n":"12.50"}'
    )
