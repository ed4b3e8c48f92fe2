"""The web app inside tocsin run: a port in use is reported, never fatal."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from fastapi import FastAPI

from tocsin.web.serve import serve


async def test_a_port_in_use_is_logged_and_tocsin_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="tocsin.web"):
            await asyncio.wait_for(serve(FastAPI(), "127.0.0.1", port), timeout=10)
    assert f"cannot listen on 127.0.0.1:{port}" in caplog.text
