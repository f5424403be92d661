import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def airflow_metadata_db():
    """dag.test() needs a migrated metadata database; SQLite in the test's own AIRFLOW_HOME."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=os.environ.copy(), capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}", pytrace=False)
