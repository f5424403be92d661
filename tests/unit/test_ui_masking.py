"""The Integrations page's masking of patients' data and of credentials in free text, and the one
file of plugins/ident_ui the plugin manager loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from ident_ui.masking import hide_credentials, mask_name, mask_phone, mask_text

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+79161234567", "+7 *** ***-45-67"),
        ("8 (916) 123-45-67", "8 *** ***-45-67"),
        ("9161234567", "*** ***-45-67"),
        ("+375291234567", "+37 *** ***-45-67"),
        ("123", "***"),
        (None, None),
    ],
)
def test_a_phone_keeps_its_last_four_digits(phone, masked):
    assert mask_phone(phone) == masked


def test_a_name_keeps_its_initials():
    assert mask_name("Иванов Пётр Сергеевич") == "И*** П*** С***"
    assert mask_name("  Анна ") == "А***"


def test_phones_in_free_text_are_masked_and_dates_are_not():
    text = "ClientPhone '+7 (916) 123-45-67' at 2026-12-02 10:15:00, page 12"
    assert mask_text(text) == "ClientPhone '+7 *** ***-45-67' at 2026-12-02 10:15:00, page 12"


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("Authorization: Bearer abc.def", "Authorization: ***"),
        ("rejected apikey=123&x=1", "rejected apikey=***&x=1"),
        ('{"token": "zzz"}', '{"token": "***"}'),
        ("sent Bearer xyz", "sent Bearer ***"),
        ("the password is wrong", "the password is wrong"),  # words about a credential stay
    ],
)
def test_credentials_quoted_in_an_error_are_hidden(text, hidden):
    assert hide_credentials(text) == hidden


def test_the_plugin_manager_loads_only_the_plugin_module_of_ident_ui():
    from airflow._shared.module_loading import find_path_from_directory

    found = {Path(path).relative_to(PLUGINS).as_posix() for path in find_path_from_directory(PLUGINS, ".airflowignore")}
    assert {path for path in found if path.startswith("ident_ui/")} == {"ident_ui/plugin.py"}
