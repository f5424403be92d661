"""The Integrations page as an Airflow plugin: a FastAPI app under ``/ident`` and its entry in the
UI's navigation (an external view, shown in the UI's frame at ``/plugin/ident-integrations``).

This is the one file of the package the plugin manager loads (``ident_ui/.airflowignore``).
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/ident"


class LazyApp:
    """The page's ASGI app, built on its first request: the plugin manager imports this module in
    every Airflow process (scheduler, DAG processor, workers), and only the API server serves it,
    so Airflow's API security modules (half a second to import) load there alone."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self._app is None:
            from ident_ui.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class IdentIntegrationsPlugin(AirflowPlugin):
    name = "ident_integrations_page"
    fastapi_apps = [{"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "IDENT integrations"}]
    external_views = [
        {
            "name": "Integrations",
            "href": f"{URL_PREFIX}/",
            "url_route": "ident-integrations",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
