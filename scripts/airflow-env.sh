# The project's Airflow environment, shared by `make demo` and by you:
#   source scripts/airflow-env.sh && airflow dags list
# Metadata lives in the git-ignored .airflow/ (override with DEMO_HOME).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export AIRFLOW_HOME=${DEMO_HOME:-$ROOT/.airflow}
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$ROOT/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=4                       # 2-core machines
export AIRFLOW__CORE__TEST_CONNECTION=Enabled              # the UI's Test button ("Проверить")
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False    # the demo DAGs start unpaused
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$AIRFLOW_HOME/demo-passwords.json
export AIRFLOW__API__PORT=${DEMO_AIRFLOW_PORT:-8080}
export AIRFLOW__API__BASE_URL=http://localhost:$AIRFLOW__API__PORT
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://localhost:$AIRFLOW__API__PORT/execution/
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=False
export PATH=$ROOT/.venv/bin:$PATH                         # standalone spawns `airflow ...`
