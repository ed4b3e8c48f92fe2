"""Channels through apprise against local receivers (SMTP and a webhook), secrets kept out of
errors and logs. `Smtp` and `Webhook` are reused by test_outbox.py."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tocsin.confignotify import Channel
from tocsin.notify.channels import describe_url, scrub, secrets_of, send


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Webhook:
    """A webhook receiver on 127.0.0.1 that can be down (connection refused), failing (503)
    or up; it keeps what it received while up."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hook", *, auth: str = "") -> str:
        return f"json://{auth}127.0.0.1:{self.port}{path}"

    def start(self, status: int = 200) -> None:
        self.status = status
        if self._server is not None:
            return
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if hook.status == 200:
                    hook.received.append({"path": self.path, **json.loads(body)})
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
        self._server = None


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


class Smtp:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = _Inbox()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.inbox.messages

    def url(self) -> str:
        return (
            f"mailto://127.0.0.1:{self.port}?mode=insecure&from=tocsin@example.org"
            "&to=oncall@example.org&cto=2"
        )

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
        self._controller = None


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.stop()


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    yield server
    server.stop()


def channel(name: str, *urls: str, language: str | None = None) -> Channel:
    return Channel(name=name, urls=list(urls), language=language)


SECRET_URL_PARTS = ("hunter2", "s3cr3t-path", "tok-123456")


async def test_webhook_receives_title_and_markdown_body(webhook: Webhook) -> None:
    webhook.start()
    result = await send(channel("hook", webhook.url("/in/x")), "Title", "**bold** <https://a.b>")
    assert result.ok
    assert result.error == ""
    (got,) = webhook.received
    assert got["path"] == "/in/x"
    assert got["title"] == "Title"
    assert got["message"] == "**bold** <https://a.b>"


async def test_email_through_local_smtp(smtp: Smtp) -> None:
    smtp.start()
    result = await send(channel("mail", smtp.url()), "Alerte", "Ce qui s'est passé : **x**")
    assert result.ok
    (message,) = smtp.messages
    assert message["Subject"] == "Alerte"
    assert message["To"] == "oncall@example.org"
    assert "Ce qui s'est passé" in text_of(message)
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert "<strong>x</strong>" in str(html.get_content())  # type: ignore[attr-defined]


async def test_errors_and_logs_never_show_secrets(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = webhook.url("/s3cr3t-path/tok-123456?token=tok-123456", auth="me:hunter2@")
    refused = await send(channel("hook", url), "t", "b")  # not started: connection refused
    assert not refused.ok
    assert refused.failed == (0,)
    webhook.start(status=503)
    failing = await send(channel("hook", url), "t", "b")
    assert not failing.ok
    for error in (refused.error, failing.error):
        assert "channel 'hook'" in error
        assert f"json://127.0.0.1:{webhook.port}" in error
        for secret in SECRET_URL_PARTS:
            assert secret not in error
    assert "503" in failing.error or "unavailable" in failing.error.lower()
    # pytest attaches its handler to apprise's logger directly, so it sees apprise's DEBUG
    # records (full URLs) and urllib3's: all scrubbed
    assert any(r.name == "apprise" for r in caplog.records)
    for secret in SECRET_URL_PARTS:
        assert secret not in caplog.text


async def test_apprise_records_do_not_reach_the_root_logger(webhook: Webhook) -> None:
    """What tocsin's own logging setup (handlers on the root logger) would receive."""
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(f"{record.name}: {record.getMessage()}")

    root = logging.getLogger()
    handler, level = Keep(level=logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        url = webhook.url("/s3cr3t-path", auth="me:hunter2@")
        assert not (await send(channel("hook", url), "t", "b")).ok
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert not [line for line in seen if line.startswith("apprise")]
    assert all("s3cr3t-path" not in line and "hunter2" not in line for line in seen)


async def test_one_url_failing_reports_which(webhook: Webhook) -> None:
    webhook.start()
    down = f"json://127.0.0.1:{free_port()}/down"
    result = await send(channel("both", webhook.url(), down), "t", "b")
    assert not result.ok
    assert result.failed == (1,)
    assert "URL 2 of 2" in result.error
    assert len(webhook.received) == 1
    only_first = await send(channel("both", webhook.url(), down), "t", "b", only=0)
    assert only_first.ok
    assert len(webhook.received) == 2
    gone = await send(channel("both", webhook.url()), "t", "b", only=1)
    assert not gone.ok
    assert "no URL number 2" in gone.error


async def test_timeout(webhook: Webhook) -> None:
    """A receiver that accepts the connection but never answers fails after the timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        url = f"json://127.0.0.1:{port}/slow?rto=30&cto=30"
        result = await asyncio.wait_for(send(channel("slow", url), "t", "b", timeout=0.5), 10)
    assert not result.ok
    assert result.error


def test_secrets_of_and_scrub() -> None:
    url = "slack://T0001/B0002/abcdefXYZ?footer=no"
    assert secrets_of(url) >= {"T0001", "B0002", "abcdefXYZ"}
    assert describe_url(url) == "slack://…"
    mail = "mailto://bob:p%40ss@smtp.example.org:587?to=ops@example.org"
    assert {"p@ss", "p%40ss", "bob"} <= secrets_of(mail)
    assert describe_url(mail) == "mailto://smtp.example.org:587"
    assert "smtp.example.org" not in secrets_of(mail)
    text = "failed https://hooks.slack.com/services/T0001/B0002/abcdefXYZ (abcdefXYZ)"
    assert scrub(text, secrets_of(url)) == "failed https://… (***)"
    tgram = secrets_of("tgram://123456:ABCdefGHI/987654")
    assert {"123456", "ABCdefGHI", "987654"} <= tgram


def test_apprise_logs_stay_out_of_tocsin_logs() -> None:
    logger = logging.getLogger("apprise")
    assert logger.propagate is False
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
