"""Serving the web app inside `tocsin run`'s event loop (uvicorn, no signal handlers of its
own: `tocsin run` already turns SIGINT/SIGTERM into a clean stop)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

__all__ = ["serve"]

log = logging.getLogger("tocsin.web")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the caller owns the signals


async def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve `app` on `host`:`port` until cancelled."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", server_header=False
    )
    server = _Server(config)
    log.info("web app on http://%s:%d", host, port)
    try:
        await server.serve()
    except (SystemExit, OSError):  # uvicorn exits when it cannot bind
        log.error(
            "the web app cannot listen on %s:%d (in use, or not allowed); tocsin goes on "
            "listening without it: set [web] port (or TOCSIN_WEB_PORT) to a free port",
            host,
            port,
        )
    finally:
        server.should_exit = True
