"""The Integrations page's FastAPI app, mounted by Airflow's API server under ``/ident``.

``/ident/`` is the page (static HTML and JS); ``/ident/api/...`` are its figures from the IDENT
database. Every route needs an Airflow login; what each returns depends on the viewer's rights.
Runs, their states and links come from Airflow's own REST API, which the page's script calls with
the same login (the UI's session cookie).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from ident_integrations.config import ConfigError
from ident_integrations.store.database import IdentDatabase
from ident_ui import figures
from ident_ui.access import Viewer, ViewerDep
from ident_ui.catalog import Catalog, catalog

STATIC = Path(__file__).with_name("static")
# The page's files, by name: nothing else under static/ (or outside it) is ever served.
ASSETS = {"page.js": "text/javascript", "charts.js": "text/javascript", "page.css": "text/css"}
STATUS_FILTER = r"^(all|ok|error|\d{3})$"


def create_app() -> FastAPI:
    app = FastAPI(title="IDENT integrations", docs_url=None, redoc_url=None, openapi_url=None)
    for error in (ConfigError, IdentDatabaseUnavailable, SQLAlchemyError):
        app.add_exception_handler(error, _unavailable)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request) -> Any:
        try:  # the same check as every other route, answered as a page a person can act on
            await get_user(request, None, await bearer_scheme(request))
        except HTTPException as exc:
            login = get_auth_manager().get_url_login(next_url=str(request.url))
            return HTMLResponse(_LOGIN_NEEDED.format(login=html.escape(login)), status_code=exc.status_code)
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/static/{name}", include_in_schema=False)
    def asset(name: str, _user: Annotated[Any, Depends(get_user)]) -> FileResponse:
        if name not in ASSETS:
            raise HTTPException(404, "Not found")
        return FileResponse(STATIC / name, media_type=ASSETS[name])

    @app.get("/api/overview")
    def overview(viewer: ViewerDep) -> dict[str, Any]:
        """One row per integration and capability the viewer may read, and the 30-day charts."""
        current, now = catalog(), datetime.now(UTC)
        with _ident_db(current.ident_conn_id) as conn:
            rows = figures.overview(conn, current, viewer, now)
            charts = figures.charts(conn, current, viewer, now)
        return {
            "now": figures.iso(now),
            "timezone": current.timezone.key,
            "viewer": {"name": viewer.user.get_name(), "sees_personal_data": viewer.sees_personal_data},
            "rows": rows,
            "charts": charts,
        }

    @app.get("/api/integrations/{integration}")
    def integration_detail(integration: str, viewer: ViewerDep) -> dict[str, Any]:
        """The integration's rejects with their reasons, and its latest leads and calls."""
        current, capabilities = _readable(integration, viewer)
        with _ident_db(current.ident_conn_id) as conn:
            return {
                "integration": integration,
                "capabilities": capabilities,
                "rejects": figures.reject_rows(conn, integration, capabilities, viewer, limit=100),
                "recent_leads": figures.recent_leads(conn, integration, viewer) if "leads" in capabilities else [],
                "recent_calls": figures.recent_calls(conn, integration, viewer) if "calls" in capabilities else [],
            }

    @app.get("/api/integrations/{integration}/exchange-log")
    def exchange_log(
        integration: str,
        viewer: ViewerDep,
        status: Annotated[str, Query(pattern=STATUS_FILTER)] = "all",
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """IDENT's "Подробнее": what was sent and received, newest first, filtered by status."""
        current, capabilities = _readable(integration, viewer)
        with _ident_db(current.ident_conn_id) as conn:
            rows = figures.exchange_log_rows(conn, integration, capabilities, viewer, status, limit)
        return {"integration": integration, "status": status, "rows": rows}

    return app


def _readable(integration: str, viewer: Viewer) -> tuple[Catalog, list[str]]:
    """The catalog and the integration's capabilities the viewer may read; 404 when none (an
    integration one may not read is indistinguishable from one that does not exist)."""
    current = catalog()
    capabilities = figures.readable_capabilities(current, viewer, integration)
    if not capabilities:
        raise HTTPException(404, f"No integration {integration!r}")
    return current, capabilities


class IdentDatabaseUnavailable(Exception):
    """The IDENT database's connection is missing or of a type it cannot be."""


def _ident_db(conn_id: str):
    """A read-only look at the IDENT database: one connection, nothing written."""
    try:
        engine = IdentDatabase(conn_id).engine
    except Exception as exc:  # noqa: BLE001 - no such connection, or a wrong type: the page says which
        raise IdentDatabaseUnavailable(f"The IDENT database (connection {conn_id!r}) cannot be used: {exc}") from exc
    return engine.connect()


async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """The integrations file or the IDENT database cannot be read: 503, saying which, without internals."""
    if isinstance(exc, SQLAlchemyError):
        detail = f"The IDENT database cannot be read: {getattr(exc, 'orig', None) or type(exc).__name__}"
    else:
        detail = str(exc)
    return JSONResponse({"detail": detail}, status_code=503)


_LOGIN_NEEDED = """<!doctype html><html><head><meta charset="utf-8"><title>IDENT integrations</title></head>
<body style="font-family: sans-serif; margin: 2em">
<h1>IDENT integrations</h1><p>This page needs an Airflow login. <a href="{login}" target="_top">Log in</a></p>
</body></html>"""
