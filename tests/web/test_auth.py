"""Sign-in, sessions, throttling and API tokens."""

from __future__ import annotations

import hashlib
from typing import Annotated

import argon2
import pytest
import sqlalchemy as sa
from accounts_helpers import (
    PASSWORD,
    T0,
    add_user,
    client_as,
    csrf_of,
    make_app,
    settings,
    sign_in,
)
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient

from tocsin.clock import FakeClock
from tocsin.store import Store
from tocsin.store.sessions import SessionStore
from tocsin.store.tables import web_sessions
from tocsin.store.users import UserStore
from tocsin.web import auth
from tocsin.web.routes.login import MAX_ACCOUNT_FAILURES, MAX_ADDRESS_FAILURES, THROTTLED, WRONG
from tocsin.web.sessions import COOKIE, IDLE, LIFETIME, login_url, safe_next

HOUR = 3600.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def _with_api_route(app: FastAPI) -> FastAPI:
    """A small ``/api/v1/me`` route, as the API will have."""
    api = APIRouter()

    @api.get("/api/v1/me")
    def me(user: Annotated[auth.User, Depends(auth.require("viewer"))]) -> dict[str, str]:
        return {"email": user.email, "role": user.role}

    @api.post("/api/v1/echo")
    def echo(user: Annotated[auth.User, Depends(auth.require("viewer"))]) -> dict[str, str]:
        return {"email": user.email}

    app.include_router(api)
    return app


@pytest.fixture
def app(store: Store, clock: FakeClock) -> FastAPI:
    return _with_api_route(make_app(store, clock))


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, follow_redirects=False)


def _audit_actions(store: Store) -> list[str]:
    return [e.action for e in reversed(UserStore(store).audit_entries(limit=1000))]


# -- sign in and out -------------------------------------------------------------------------


def test_sign_in_opens_a_session_with_a_safe_cookie(client: TestClient, store: Store) -> None:
    alice = add_user(store, "alice@example.org", "responder")
    response = sign_in(client, "Alice@Example.org ", next="/admin/audit?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/audit?x=1"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
    flags = [f.strip().lower() for f in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert "secure" not in flags  # plain http, public_url http: a Secure cookie would be lost
    token = cookie.split(";")[0].split("=", 1)[1]
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(web_sessions)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(tuple(stored))  # only the hash is kept
    assert stored.user_id == alice.id
    me = client.get("/api/v1/me")
    assert me.json() == {"email": "alice@example.org", "role": "responder"}
    assert _audit_actions(store) == ["login"]
    last = UserStore(store).get(alice.id)
    assert last is not None
    assert last.last_login_at == T0


@pytest.mark.parametrize("how", ["https request", "https public_url"])
def test_the_cookie_is_secure_over_https(store: Store, clock: FakeClock, how: str) -> None:
    add_user(store, "alice@example.org")
    if how == "https request":
        client = TestClient(make_app(store, clock), base_url="https://testserver")
    else:
        config = settings(public_url="https://tocsin.example.org")
        client = TestClient(make_app(store, clock, config))
    client.follow_redirects = False
    form = client.get("/login")
    assert "secure" in form.headers["set-cookie"].lower()
    token = csrf_of(form.text)
    data = {"email": "alice@example.org", "password": PASSWORD, "csrf": token}
    # Behind an https proxy the browser sends Secure cookies back; httpx over http does not.
    response = client.post("/login", data=data, headers={"Cookie": f"tocsin_login={token}"})
    assert response.status_code == 303
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
    assert "secure" in [f.strip().lower() for f in cookie.split(";")]


def test_wrong_password_and_unknown_email_read_the_same(client: TestClient, store: Store) -> None:
    add_user(store, "alice@example.org")
    wrong = sign_in(client, "alice@example.org", "not the password at all")
    unknown = sign_in(client, "nobody@example.org", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert WRONG in wrong.text
    assert WRONG in unknown.text
    assert COOKIE not in wrong.headers.get("set-cookie", "")
    by_email, _ = SessionStore(store).failures(
        email="nobody@example.org", address="testclient", since=T0
    )
    assert by_email == 1  # unknown accounts are counted too: throttling tells nothing


def test_the_login_form_needs_its_own_token(client: TestClient, store: Store) -> None:
    add_user(store, "alice@example.org")
    data = {"email": "alice@example.org", "password": PASSWORD, "csrf": "forged"}
    response = client.post("/login", data=data)
    assert response.status_code == 403
    assert "expired" in response.text
    assert COOKIE not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example/", "/\\evil.example", "evil", "/%0d"]
)
def test_next_never_leaves_the_site(client: TestClient, store: Store, target: str) -> None:
    add_user(store, "alice@example.org")
    response = sign_in(client, "alice@example.org", next=target)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/")
    assert not location.startswith("//")
    assert "evil" not in location or location.startswith("/%")


def test_safe_next() -> None:
    assert safe_next("/inbox?state=new") == "/inbox?state=new"
    for bad in (None, "", "//x", "/\\x", "http://x", "javascript:alert(1)", "/a\r\nb"):
        assert safe_next(bad) == "/"
    assert login_url("/inbox?a=1&b=2") == "/login?next=/inbox%3Fa%3D1%26b%3D2"


def test_browsers_go_to_the_login_page_and_api_clients_get_401(client: TestClient) -> None:
    page = client.get("/admin/users?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == login_url("/admin/users?x=1")
    htmx = client.get("/admin/users", headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"].startswith("/login?next=")
    api = client.get("/api/v1/me")
    assert api.status_code == 401
    assert api.json() == {"detail": "sign in first"}
    assert api.headers["WWW-Authenticate"] == "Bearer"


def test_signed_in_people_skip_the_login_form(app: FastAPI, store: Store) -> None:
    alice = add_user(store, "alice@example.org")
    client, _ = client_as(app, store, alice)
    response = client.get("/login", params={"next": "/account/tokens"})
    assert response.status_code == 303
    assert response.headers["location"] == "/account/tokens"


def test_logout_ends_the_session(client: TestClient, store: Store) -> None:
    add_user(store, "alice@example.org")
    sign_in(client, "alice@example.org")
    tokens_page = client.get("/account/tokens")
    assert tokens_page.status_code == 200
    response = client.post("/logout", data={"csrf": csrf_of(tokens_page.text)})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert (
        f'{COOKIE}=""' in response.headers["set-cookie"]
        or "Max-Age=0" in response.headers["set-cookie"]
    )
    with store.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(web_sessions)) == 0
    assert client.get("/account/tokens").status_code == 303
    assert _audit_actions(store) == ["login", "logout"]


def test_logout_without_the_csrf_token_is_refused(client: TestClient, store: Store) -> None:
    add_user(store, "alice@example.org")
    sign_in(client, "alice@example.org")
    assert client.post("/logout").status_code == 403
    assert client.get("/account/tokens").status_code == 200


# -- expiry ----------------------------------------------------------------------------------


def test_an_idle_session_expires(app: FastAPI, store: Store, clock: FakeClock) -> None:
    alice = add_user(store, "alice@example.org")
    client, _ = client_as(app, store, alice)
    clock.advance(IDLE.total_seconds() - 60)
    assert client.get("/api/v1/me").status_code == 200  # still alive, and now refreshed
    clock.advance(IDLE.total_seconds() - 60)
    assert client.get("/api/v1/me").status_code == 200
    clock.advance(IDLE.total_seconds() + 1)
    response = client.get("/account/tokens")
    assert response.status_code == 303
    assert "Max-Age=0" in response.headers["set-cookie"]  # the dead cookie is cleared


def test_a_session_ends_after_its_lifetime_even_in_use(
    app: FastAPI, store: Store, clock: FakeClock
) -> None:
    alice = add_user(store, "alice@example.org")
    client, _ = client_as(app, store, alice)
    used = 0.0
    while used + 11 * HOUR < LIFETIME.total_seconds():
        clock.advance(11 * HOUR)
        used += 11 * HOUR
        assert client.get("/api/v1/me").status_code == 200
    clock.advance(LIFETIME.total_seconds() - used)
    assert client.get("/api/v1/me").status_code == 401


def test_disabled_people_are_refused(app: FastAPI, store: Store) -> None:
    alice = add_user(store, "alice@example.org")
    client, _ = client_as(app, store, alice)
    assert client.get("/api/v1/me").status_code == 200
    UserStore(store).update(alice.id, disabled=True)
    assert client.get("/api/v1/me").status_code == 401
    fresh = TestClient(app, follow_redirects=False)
    response = sign_in(fresh, "alice@example.org")
    assert response.status_code == 403
    assert "disabled" in response.text


# -- throttling ------------------------------------------------------------------------------


def test_sign_in_is_throttled_per_account(
    client: TestClient, store: Store, clock: FakeClock
) -> None:
    add_user(store, "alice@example.org")
    for _ in range(MAX_ACCOUNT_FAILURES):
        assert sign_in(client, "alice@example.org", "wrong password!!").status_code == 401
    throttled = sign_in(client, "alice@example.org")  # even the right password
    assert throttled.status_code == 429
    assert THROTTLED.split(".")[0] in throttled.text
    assert throttled.headers["Retry-After"] == "900"
    for _ in range(MAX_ACCOUNT_FAILURES):
        sign_in(client, "ghost@example.org", "wrong password!!")
    ghost = sign_in(client, "ghost@example.org", "wrong password!!")
    assert ghost.status_code == 429  # the same answer: nothing says who has an account
    assert ghost.text.replace("ghost", "alice") == throttled.text.replace(
        csrf_of(throttled.text), csrf_of(ghost.text)
    )
    clock.advance(15 * 60 + 1)
    assert sign_in(client, "alice@example.org").status_code == 303


def test_sign_in_is_throttled_per_address(client: TestClient, store: Store) -> None:
    add_user(store, "alice@example.org")
    for n in range(MAX_ADDRESS_FAILURES):
        assert sign_in(client, f"guess{n}@example.org", "wrong password!!").status_code == 401
    assert sign_in(client, "alice@example.org").status_code == 429


def test_a_good_sign_in_clears_the_account_failures(client: TestClient, store: Store) -> None:
    add_user(store, "alice@example.org")
    for _ in range(MAX_ACCOUNT_FAILURES - 1):
        sign_in(client, "alice@example.org", "wrong password!!")
    assert sign_in(client, "alice@example.org").status_code == 303
    assert SessionStore(store).failures(email="alice@example.org", address="x", since=T0)[0] == 0


# -- passwords -------------------------------------------------------------------------------


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = add_user(store, "alice@example.org")
    stronger = argon2.PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    monkeypatch.setattr(auth, "HASHER", stronger)
    assert sign_in(client, "alice@example.org").status_code == 303
    record = UserStore(store).get(alice.id)
    assert record is not None
    assert "m=16,t=2,p=1" in record.password_hash
    assert record.password_hash.startswith("$argon2id$")
    assert stronger.verify(record.password_hash, PASSWORD)


def test_password_rules() -> None:
    problem = auth.password_problem("short")
    assert problem is not None
    assert "at least 12 characters" in problem
    assert auth.password_problem(" " * 20) is not None
    assert auth.password_problem("x" * 2000) is not None
    assert auth.password_problem(PASSWORD) is None
    with pytest.raises(ValueError, match="too short"):
        auth.hash_password("short")
    assert auth.verify_password(None, PASSWORD) == (False, None)
    assert auth.verify_password("not a hash", PASSWORD) == (False, None)


def test_default_hasher_is_argon2id() -> None:
    assert argon2.PasswordHasher().type is argon2.Type.ID


# -- API tokens ------------------------------------------------------------------------------


def _create_token(client: TestClient, csrf: str, name: str = "dashboard script") -> str:
    response = client.post("/account/tokens", data={"name": name, "csrf": csrf})
    assert response.status_code == 200
    start = response.text.index('<code class="token">') + len('<code class="token">')
    return response.text[start : response.text.index("</code>", start)]


def test_api_tokens_authenticate_and_stop_when_revoked(
    app: FastAPI, store: Store, clock: FakeClock
) -> None:
    alice = add_user(store, "alice@example.org", "lead")
    browser, csrf = client_as(app, store, alice)
    token = _create_token(browser, csrf)
    assert token.startswith("tocsin_")
    listing = browser.get("/account/tokens")
    assert "dashboard script" in listing.text
    assert token not in listing.text
    api = TestClient(app)
    clock.advance(60)
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/me", headers=headers).json() == {
        "email": "alice@example.org",
        "role": "lead",
    }
    assert api.post("/api/v1/echo", headers=headers).status_code == 200  # no CSRF: no cookie
    [stored] = SessionStore(store).tokens(alice.id)
    assert stored.last_used_at == clock.now()
    with store.engine.connect() as conn:
        hashes = conn.scalars(sa.text("SELECT token_hash FROM api_tokens")).all()
    assert hashes == [hashlib.sha256(token.encode()).hexdigest()]
    revoke = browser.post(f"/account/tokens/{stored.id}/revoke", data={"csrf": csrf})
    assert revoke.status_code == 303
    refused = api.get("/api/v1/me", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert _audit_actions(store) == ["token.create", "token.revoke"]


def test_bad_bearer_credentials_are_refused_outright(app: FastAPI, store: Store) -> None:
    alice = add_user(store, "alice@example.org")
    browser, csrf = client_as(app, store, alice)
    token = _create_token(browser, csrf)
    api = TestClient(app, follow_redirects=False)
    assert api.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api.get("/api/v1/me", headers={"Authorization": "Basic eDp5"}).status_code == 401
    page = api.get("/account/tokens", headers={"Authorization": "Bearer nope"})
    assert page.status_code == 401  # a wrong token is an error, not "not signed in"
    UserStore(store).update(alice.id, disabled=True)
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_token_needs_a_name(app: FastAPI, store: Store) -> None:
    alice = add_user(store, "alice@example.org")
    browser, csrf = client_as(app, store, alice)
    response = browser.post("/account/tokens", data={"name": " ", "csrf": csrf})
    assert response.status_code == 400
    assert "Name the token" in response.text
    assert SessionStore(store).tokens(alice.id) == []


def test_nobody_revokes_someone_elses_token(app: FastAPI, store: Store) -> None:
    alice = add_user(store, "alice@example.org")
    bob = add_user(store, "bob@example.org", "admin")
    alice_browser, alice_csrf = client_as(app, store, alice)
    _create_token(alice_browser, alice_csrf)
    [token] = SessionStore(store).tokens(alice.id)
    bob_browser, bob_csrf = client_as(app, store, bob)
    response = bob_browser.post(f"/account/tokens/{token.id}/revoke", data={"csrf": bob_csrf})
    assert response.status_code == 404
    assert SessionStore(store).tokens(alice.id) == [token]
