"""Who is looking, and what Airflow lets them see.

Every route depends on :func:`current_viewer`: Airflow's own ``get_user`` (the JWT from the
``Authorization`` header or the UI's session cookie; none or an invalid one is 401/403), then the
auth manager decides, as it does for Airflow's own pages, which IDENT DAGs the viewer may read and
whether they may read connections (and so see patients' phones and names in full).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends


@dataclass(frozen=True)
class Viewer:
    user: Any  # the auth manager's user
    readable_dags: frozenset[str]  # of the IDENT DAGs the configuration defines
    sees_personal_data: bool

    def may_read(self, dag_id: str) -> bool:
        return dag_id in self.readable_dags


def viewer_for(user: Any, dag_ids: set[str]) -> Viewer:
    """What ``user`` may see of these DAGs, asked of whichever auth manager Airflow runs."""
    manager = get_auth_manager()
    return Viewer(
        user=user,
        readable_dags=frozenset(manager.filter_authorized_dag_ids(dag_ids=dag_ids, user=user, method="GET")),
        sees_personal_data=manager.is_authorized_connection(method="GET", user=user),
    )


def current_viewer(user: Annotated[Any, Depends(get_user)]) -> Viewer:
    from ident_ui.catalog import catalog

    return viewer_for(user, catalog().dag_ids())


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
