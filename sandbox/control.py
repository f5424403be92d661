"""Generic control API under /_sandbox: health and fault switches (no key; loopback only)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from .clock import format_iso
from .context import SandboxContext
from .faults import FaultUpdate


def create_router(ctx: SandboxContext) -> APIRouter:
    router = APIRouter()

    def known(service: str) -> str:
        if ctx.faults.get(service) is None:
            raise HTTPException(status_code=404, detail=f"Unknown service {service!r}; known: {ctx.faults.services()}")
        return service

    @router.get("/health")
    async def health() -> dict:
        return {
            "status": "ok",
            "services": ctx.faults.services(),
            "start_time": format_iso(ctx.clock.start_time, ctx.tz),
            "now": format_iso(ctx.clock.now(), ctx.tz),
            "timezone": ctx.settings.timezone,
        }

    @router.get("/faults")
    async def all_faults() -> dict:
        return ctx.faults.snapshot()

    @router.get("/faults/{service}")
    async def get_faults(service: str) -> dict:
        return ctx.faults.get(known(service)).as_dict()

    @router.put("/faults/{service}")
    async def set_faults(service: str, update: FaultUpdate) -> dict:
        return ctx.faults.update(known(service), update).as_dict()

    @router.delete("/faults/{service}")
    async def reset_faults(service: str) -> dict:
        return ctx.faults.reset(known(service)).as_dict()

    return router
