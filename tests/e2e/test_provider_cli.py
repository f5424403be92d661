"""The local provider seen through Airflow's own CLI: the connection type is registered, and
`airflow connections test` runs ClinicHttpHook.test_connection against the sandbox."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def airflow(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True)


def test_connections_test_uses_the_clinic_http_hook(airflow_metadata_db, sandbox):
    env = {**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    providers = airflow("providers", "list", env=env)
    assert "airflow-provider-ident" in providers.stdout

    host = f"{sandbox.base_url}/clinic_http/cli"
    for conn_id, key in (("cli_good", sandbox.key), ("cli_bad", "not-the-key")):
        airflow("connections", "delete", conn_id, env=env)
        added = airflow(
            "connections", "add", conn_id, "--conn-type", "ident_clinic_http",
            "--conn-host", host, "--conn-password", key, env=env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr[-2000:]

    listed = airflow("connections", "get", "cli_good", "-o", "json", env=env)
    assert '"conn_type": "ident_clinic_http"' in listed.stdout  # not silently turned into "generic"

    good = airflow("connections", "test", "cli_good", env=env)
    assert "Connection success!" in good.stdout, good.stdout[-2000:] + good.stderr[-2000:]
    bad = airflow("connections", "test", "cli_bad", env=env)
    assert "Connection success!" not in bad.stdout and "403" in bad.stdout + bad.stderr


def test_dags_list_shows_a_dag_per_configured_integration(airflow_metadata_db):
    listed = airflow("dags", "list", "--local", "-o", "plain", env=dict(os.environ))
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "ident_leads__site" in listed.stdout and "ident_leads__landing" in listed.stdout
