"""How the `ident` command words things, in process (the entry points are tested in tests/integration)."""

from __future__ import annotations

from datetime import date

from ident_integrations.cli import ITALIC, PLAIN, one_line, render_value, settings_table
from ident_integrations.config import parse_config


def test_values_are_spelled_as_in_the_file():
    assert [render_value(v) for v in (True, False, 45.0, 2.5, 60, None, (), ("a@x.ru", "b@x.ru"))] == [
        "true", "false", "45", "2.5", "60", "(not set)", "(none)", "a@x.ru, b@x.ru",
    ]  # fmt: skip
    assert render_value(date(2026, 11, 1)) == "2026-11-01"


def test_driver_errors_become_one_line():
    mssql = ((20009, b"DB-Lib error message 20009, severity 9:\nUnable to connect\n"),)
    assert one_line(Exception(*mssql)) == "20009: DB-Lib error message 20009, severity 9: Unable to connect"
    assert one_line(Exception(2002, "Can't connect to server")) == "2002: Can't connect to server"
    assert one_line(Exception()) == ""


def test_inherited_values_are_italic_only_when_asked():
    config = parse_config(
        {
            "defaults": {"leads": {"page_size": 200}},
            "integrations": [
                {"name": "site", "service": "clinic_http", "conn_id": "c", "task_retries": 5, "leads": {}}
            ],
        },
        "test.yaml",
    )
    (resolved,) = config.blocks()
    plain = settings_table(resolved)
    assert plain[0].split() == ["setting", "value", "from"]
    assert "  task_retries              5             integration" in plain
    assert "  leads.page_size           200           defaults" in plain
    assert not any("\033" in line for line in plain)
    italic = settings_table(resolved, italics=True)
    assert f"  leads.page_size           {ITALIC}200         {PLAIN}  defaults" in italic
    assert "  task_retries              5             integration" in italic  # the integration's own: upright
