"""`RedditSource` through OAuth (asyncpraw) against a fake Reddit on 127.0.0.1: same items as
the public JSON path, app-only and script apps, 429, 5xx, bad credentials, missing extra."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import asyncprawcore.sessions
import httpx
import pydantic
import pytest

from tocsin.clock import FakeClock
from tocsin.mention import Mention
from tocsin.sources.base import Batch, SourceError
from tocsin.sources.reddit import RedditOptions, RedditSource

# asyncprawcore still passes aiohttp.BasicAuth as `auth=`, which aiohttp 3.14 deprecates.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

FIXTURES = Path(__file__).parent.parent / "fixtures" / "reddit"
NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)

CLIENT_ID = "tocsin-test-app"
CLIENT_SECRET = "s3cret-client-secret-value"
PASSWORD = "hunter2-but-longer"
TOKEN = "oauth-access-token-123"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def read(source: RedditSource) -> tuple[Batch, list[Mention]]:
    batch = await source.fetch(None)
    return batch, [source.normalise(item) for item in batch.items]


class FakeRedditOAuth:
    """``POST /api/v1/access_token`` (app-only or password grant), then bearer-only listings."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.grants: list[dict[str, str]] = []
        self.password_ok = True
        self.listings: dict[str, bytes] = {}
        self.failure: tuple[int, dict[str, str]] | None = None
        self.gets: list[tuple[str, dict[str, str]]] = []
        server.httpd.RequestHandlerClass.do_POST = lambda h: self.token(h)
        for path in ("/search", "/r/acme+anvils/new", "/r/acme+anvils/comments", "/api/info"):
            server.route(path, self.listing)

    def token(self, h: Any) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(h.rfile.read(length).decode()))
        self.grants.append(form)
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if h.path != "/api/v1/access_token" or h.headers.get("Authorization") != (
            f"Basic {expected}"
        ):
            body = b'{"message": "Unauthorized", "error": 401}'
            self.server.reply(h, 401, body, {"Content-Type": "application/json"})
            return
        if not self.password_ok:  # Reddit answers a wrong password with 200 and an error
            body = b'{"error": "invalid_grant"}'
            self.server.reply(h, 200, body, {"Content-Type": "application/json"})
            return
        token = {"access_token": TOKEN, "token_type": "bearer", "expires_in": 86400, "scope": "*"}
        self.server.reply(h, 200, json.dumps(token).encode(), {"Content-Type": "application/json"})

    def listing(self, h: Any) -> None:
        path = urlsplit(h.path).path
        self.gets.append((h.path, dict(h.headers.items())))
        if h.headers.get("Authorization") != f"bearer {TOKEN}":
            self.server.reply(h, 401, b'{"message": "Unauthorized", "error": 401}')
        elif self.failure is not None:
            self.server.reply(h, self.failure[0], b'{"message": "nope"}', self.failure[1])
        else:
            body = self.listings.get(path, fixture("search_new.json"))
            self.server.reply(h, 200, body, {"Content-Type": "application/json"})


@pytest.fixture
def fake(server: Any) -> FakeRedditOAuth:
    return FakeRedditOAuth(server)


@pytest.fixture(autouse=True)
def _no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncprawcore retries a 5xx after a random sleep: no real waiting in tests."""
    monkeypatch.setattr(
        asyncprawcore.sessions.FiniteRetryStrategy, "_sleep_seconds", lambda s: None
    )


def oauth_source(client: httpx.AsyncClient, server: Any, **options: Any) -> RedditSource:
    opts = RedditOptions(
        base_url=server.url(""),
        oauth_url=server.url(""),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        **options,
    )
    return RedditSource("reddit", opts, client=client, clock=FakeClock(NOW))


async def test_oauth_gives_the_same_items_as_the_public_json(
    server: Any, client: httpx.AsyncClient, fake: FakeRedditOAuth
) -> None:
    fake.listings["/r/acme+anvils/comments"] = fixture("subs_comments.json")
    server.static("/search.json", fixture("search_new.json"))
    server.static("/r/acme+anvils/new.json", fixture("search_new.json"))
    server.static("/r/acme+anvils/comments.json", fixture("subs_comments.json"))
    options = {"query": "Acme", "subreddits": ["acme", "anvils"]}
    public_batch, public = await read(
        RedditSource(
            "reddit",
            RedditOptions(base_url=server.url(""), **options),
            client=client,
            clock=FakeClock(NOW),
        )
    )
    batch, mentions = await read(oauth_source(client, server, **options))
    assert mentions == public
    assert batch.cursor == public_batch.cursor
    assert [m.native_id for m in mentions] == [
        "t3_1qx7abc",
        "t3_1qx6zzz",
        "t1_kq2c001",
        "t1_kq2c002",
    ]
    assert fake.grants == [{"grant_type": "client_credentials"}]  # one token for the poll
    paths = [urlsplit(p).path for p, _ in fake.gets]
    assert paths == ["/search", "/r/acme+anvils/new", "/r/acme+anvils/comments"]
    search = dict(parse_qsl(urlsplit(fake.gets[0][0]).query))
    assert (search["q"], search["sort"], search["raw_json"]) == ("Acme", "new", "1")
    assert fake.gets[0][1]["User-Agent"].startswith("tocsin/")


async def test_script_app_logs_in_with_username_and_password(
    server: Any, client: httpx.AsyncClient, fake: FakeRedditOAuth
) -> None:
    source = oauth_source(client, server, query="Acme", username="acme_comms", password=PASSWORD)
    _, mentions = await read(source)
    assert len(mentions) == 2
    assert fake.grants == [
        {"grant_type": "password", "username": "acme_comms", "password": PASSWORD}
    ]


async def test_refresh_goes_through_oauth(
    server: Any, client: httpx.AsyncClient, fake: FakeRedditOAuth
) -> None:
    items = await oauth_source(client, server, query="Acme").refresh(["t3_1qx7abc", "t3_1qx6zzz"])
    assert [i.native_id for i in items] == ["t3_1qx7abc", "t3_1qx6zzz"]
    path, _ = fake.gets[0]
    assert urlsplit(path).path == "/api/info"
    assert dict(parse_qsl(urlsplit(path).query))["id"] == "t3_1qx7abc,t3_1qx6zzz"


async def test_429_waits_for_retry_after(
    server: Any, client: httpx.AsyncClient, fake: FakeRedditOAuth
) -> None:
    fake.failure = (429, {"Retry-After": "42"})
    source = oauth_source(client, server, query="Acme")
    with pytest.raises(SourceError, match="HTTP 429") as info:
        await source.fetch(None)
    assert info.value.retry_after == 42


async def test_5xx_is_a_source_error(
    server: Any, client: httpx.AsyncClient, fake: FakeRedditOAuth
) -> None:
    fake.failure = (503, {})
    with pytest.raises(SourceError, match=r"OAuth GET /search returned HTTP 503"):
        await oauth_source(client, server, query="Acme").fetch(None)


@pytest.mark.parametrize("wrong", ["password", "client_secret"])
async def test_refused_credentials_name_the_options_never_the_secrets(
    server: Any, client: httpx.AsyncClient, fake: FakeRedditOAuth, wrong: str
) -> None:
    fake.password_ok = wrong != "password"
    secret = "not-the-right-secret" if wrong == "client_secret" else CLIENT_SECRET
    opts = RedditOptions(
        base_url=server.url(""),
        oauth_url=server.url(""),
        client_id=CLIENT_ID,
        client_secret=secret,
        query="Acme",
        username="acme_comms",
        password=PASSWORD,
    )
    source = RedditSource("reddit", opts, client=client, clock=FakeClock(NOW))
    with pytest.raises(SourceError, match=r"refused the credentials.*`client_id`") as info:
        await source.fetch(None)
    for text in (str(info.value), repr(source.options)):
        assert secret not in text
        assert PASSWORD not in text


async def test_public_json_stays_the_default(server: Any, client: httpx.AsyncClient) -> None:
    server.static("/search.json", fixture("search_new.json"))
    source = RedditSource(
        "reddit",
        RedditOptions(base_url=server.url(""), query="Acme"),
        client=client,
        clock=FakeClock(NOW),
    )
    assert source.oauth is None
    _, mentions = await read(source)
    assert len(mentions) == 2


def test_missing_asyncpraw_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpraw", None)
    with pytest.raises(pydantic.ValidationError, match=r"pip install 'tocsin\[reddit-oauth\]'"):
        RedditOptions(query="Acme", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


def test_credentials_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_TEST_REDDIT_ID", CLIENT_ID)
    monkeypatch.setenv("TOCSIN_TEST_REDDIT_SECRET", CLIENT_SECRET)
    opts = RedditOptions(
        query="Acme",
        client_id="env:TOCSIN_TEST_REDDIT_ID",
        client_secret="env:TOCSIN_TEST_REDDIT_SECRET",
    )
    assert opts.client_id == CLIENT_ID
    assert opts.client_secret is not None
    assert opts.client_secret.get_secret_value() == CLIENT_SECRET
