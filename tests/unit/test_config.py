from datetime import date
from pathlib import Path

import pytest
import yaml

from ident_integrations.config import ConfigError, load_config, parse_config

MINIMAL = {
    "integrations": [
        {"name": "site", "service": "clinic_http", "conn_id": "clinic_site", "leads": {"enabled": True}},
    ]
}


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True) if not isinstance(data, str) else data)
    return path


def test_shipped_file_is_valid_and_uses_identity_defaults():
    config = load_config()
    assert config.clinic.timezone == "Europe/Moscow"
    assert config.defaults.timeout_seconds == 45
    assert config.defaults.leads.interval_minutes == 2
    assert {"ident_leads__site", "ident_leads__landing", "ident_leads__telephony"} <= {
        lead.dag_id for lead in config.enabled("leads")
    }


def test_values_not_set_fall_back_to_defaults_and_overrides_win():
    config = parse_config(
        {
            "defaults": {"timeout_seconds": 30, "task_retries": 5, "leads": {"interval_minutes": 3, "page_size": 100}},
            "integrations": [
                {"name": "a", "service": "clinic_http", "conn_id": "c_a", "leads": {"enabled": True}},
                {
                    "name": "b",
                    "service": "clinic_http",
                    "conn_id": "c_b",
                    "timeout_seconds": 10,
                    "leads": {"interval_minutes": 7, "start_date": "2026-11-01"},
                },
            ],
        },
        "test.yaml",
    )
    a, b = config.enabled("leads")
    assert (a.block.interval_minutes, a.block.page_size, a.request.timeout_seconds, a.task.task_retries) == (
        3,
        100,
        30,
        5,
    )
    assert (b.block.interval_minutes, b.block.page_size, b.request.timeout_seconds) == (7, 100, 10)
    assert b.block.start_date == date(2026, 11, 1) and a.block.start_date is None


def test_disabled_and_blockless_integrations_get_no_dag():
    config = parse_config(
        {
            "integrations": [
                {"name": "off", "service": "clinic_http", "conn_id": "x", "leads": {"enabled": False}},
                {"name": "none", "service": "clinic_http", "conn_id": "y"},
            ]
        },
        "t",
    )
    assert config.enabled("leads") == []


def test_env_var_selects_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, {"clinic": {"timezone": "Asia/Yekaterinburg"}, **MINIMAL})
    monkeypatch.setenv("IDENT_INTEGRATIONS_FILE", str(path))
    assert load_config().clinic.timezone == "Asia/Yekaterinburg"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {
                "integrations": [
                    {"name": "site", "service": "clinic_http", "conn_id": "c", "leads": {"interval_minutes": 0}}
                ]
            },
            "integration 'site', field 'leads.interval_minutes': Input should be greater than or equal to 1",
        ),
        (
            {"integrations": [{"name": "Site-1", "service": "clinic_http", "conn_id": "c"}]},
            "integration 'Site-1', field 'name': String should match pattern",
        ),
        (
            {"integrations": [{"name": "x", "service": "telegram", "conn_id": "c"}]},
            "integration 'x', field 'service': Input should be",
        ),
        (
            {"integrations": [{"name": "x", "service": "clinic_http", "conn_id": "c", "leeds": {}}]},
            "integration 'x', field 'leeds': Extra inputs are not permitted",
        ),
        (
            {"integrations": [{"name": "u", "service": "clinic_http", "conn_id": "c", "calls": {}, "fax": {}}]},
            "integration 'u', field 'fax': Extra inputs are not permitted",
        ),
        (
            {"integrations": [MINIMAL["integrations"][0], MINIMAL["integrations"][0]]},
            "integration name 'site' is used twice",
        ),
        (
            {"integrations": [{"name": "w", "service": "clinic_http", "conn_id": "c", "leads": {"mode": "push"}}]},
            "integration 'w', field 'leads.mode': Input should be 'poll' or 'watch'",
        ),
        (
            {"integrations": [{"name": "w", "service": "clinic_http", "conn_id": "c", "leads": {"watch_seconds": 0}}]},
            "integration 'w', field 'leads.watch_seconds': Input should be greater than or equal to 1",
        ),
        ({"clinic": {"timezone": "Mars/Olympus"}}, "field 'clinic.timezone': unknown timezone 'Mars/Olympus'"),
        ({"defaults": {"timeout_seconds": -1}}, "field 'defaults.timeout_seconds': Input should be greater than 0"),
    ],
)
def test_invalid_file_names_file_integration_and_field(tmp_path, data, expected):
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"Invalid integrations file {path}: ")
    assert expected in message


def test_yaml_syntax_error_and_missing_file_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "integrations: [\n  - name: a\n    service: [unclosed"))
    with pytest.raises(ConfigError, match="Cannot read integrations file .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
