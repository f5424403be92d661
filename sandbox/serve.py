"""Uvicorn plumbing shared by the CLI and sandbox.testing: bind first, so port 0 reveals the real port."""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


def make_server(app: FastAPI) -> uvicorn.Server:
    # log_config=None: do not reconfigure the host process's logging (matters inside pytest/Airflow);
    # access_log=False: the app prints its own key-free request line; lifespan="on": the app's
    # start-up and shutdown run (the clinic tables' writer).
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="on")
    return uvicorn.Server(config)
