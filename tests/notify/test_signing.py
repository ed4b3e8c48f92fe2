"""Signed action links: round trip, tampering, expiry, and the workspace secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tocsin.notify.signing import (
    SECRET_FILE,
    InvalidLink,
    SignedAction,
    sign,
    signing_secret,
    verify,
    workspace_secret,
)

NOW = datetime(2026, 1, 13, 21, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=24)
SECRET = "s3cret-for-tests"


def test_round_trip() -> None:
    token = sign(SECRET, 4242, "ack", "alice", LATER)
    assert verify(SECRET, token, NOW) == SignedAction(4242, "ack", "alice", LATER)
    channel = sign(SECRET.encode(), 7, "resolve", "", LATER)
    assert verify(SECRET, channel, NOW) == SignedAction(7, "resolve", "", LATER)


def test_tokens_are_url_safe_and_fit_an_sms() -> None:
    longest = sign(SECRET, 2**31, "resolve", "a" * 63, LATER)
    assert len(longest) < 100
    typical = sign(SECRET, 1234, "ack", "alice", LATER)
    assert len(typical) < 50
    assert set(longest + typical) <= set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
    )


def test_every_altered_character_is_refused() -> None:
    token = sign(SECRET, 4242, "ack", "alice", LATER)
    for position, char in enumerate(token):
        if char == ".":
            continue
        for other in ("0", "z", "A"):
            if other != char:
                altered = token[:position] + other + token[position + 1 :]
                with pytest.raises(InvalidLink):
                    verify(SECRET, altered, NOW)


def test_swapped_fields_and_another_secret_are_refused() -> None:
    ack = sign(SECRET, 4242, "ack", "alice", LATER)
    resolve = sign(SECRET, 4242, "resolve", "alice", LATER)
    forged = resolve.rsplit(".", 1)[0] + "." + ack.rsplit(".", 1)[1]
    with pytest.raises(InvalidLink, match="signature does not match"):
        verify(SECRET, forged, NOW)
    with pytest.raises(InvalidLink, match="signature does not match"):
        verify("another secret", ack, NOW)


def test_expired_links_are_refused() -> None:
    token = sign(SECRET, 1, "ack", "bob", NOW + timedelta(minutes=30))
    assert verify(SECRET, token, NOW + timedelta(minutes=29, seconds=59)).alert_id == 1
    with pytest.raises(InvalidLink, match="expired at 2026-01-13 21:30 UTC"):
        verify(SECRET, token, NOW + timedelta(minutes=30))


@pytest.mark.parametrize(
    "token", ["", "garbage", "1.aalice.x", "1.aalice.tb4xk0.short", "1.a.b.c.d.e", "é.a.b.c"]
)
def test_malformed_links_are_refused(token: str) -> None:
    with pytest.raises(InvalidLink, match="malformed"):
        verify(SECRET, token, NOW)


def test_a_signed_but_unknown_action_is_refused() -> None:
    payload = "2n9c.xalice.zzzzzz"  # a "x" action, signed the way tocsin signs
    digest = hmac.new(
        SECRET.encode(), b"tocsin-action-link-v1\x00" + payload.encode(), hashlib.sha256
    ).digest()
    mac = base64.urlsafe_b64encode(digest[:15]).decode()
    with pytest.raises(InvalidLink, match="unknown action 'x'"):
        verify(SECRET, f"{payload}.{mac}", NOW)


def test_bad_signing_requests() -> None:
    with pytest.raises(ValueError, match="unknown link action 'delete'"):
        sign(SECRET, 1, "delete", "alice", LATER)
    with pytest.raises(ValueError, match="not a person's name"):
        sign(SECRET, 1, "ack", "Alice.Smith", LATER)
    with pytest.raises(ValueError, match="timezone-aware"):
        sign(SECRET, 1, "ack", "alice", datetime(2026, 1, 14))
    with pytest.raises(ValueError, match="no signing secret"):
        sign("", 1, "ack", "alice", LATER)
    with pytest.raises(ValueError, match="no signing secret"):
        verify(b"", "anything", NOW)


def test_workspace_secret_is_created_once_and_private(tmp_path: Path) -> None:
    first = workspace_secret(tmp_path)
    assert len(first) >= 40
    assert workspace_secret(tmp_path) == first
    file = tmp_path / SECRET_FILE
    if os.name == "posix":
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        file.chmod(0o644)
        assert workspace_secret(tmp_path) == first
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [SECRET_FILE]  # no leftover temp


def test_an_existing_secret_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text("kept\n", encoding="utf-8")
    assert workspace_secret(tmp_path) == "kept"


def test_an_empty_secret_file_says_how_to_fix_it(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="delete it"):
        workspace_secret(tmp_path)


def test_configured_secret_wins(tmp_path: Path) -> None:
    assert signing_secret("from-config", tmp_path) == "from-config"
    assert not (tmp_path / SECRET_FILE).exists()
    generated = signing_secret("", tmp_path)
    assert generated == (tmp_path / SECRET_FILE).read_text(encoding="utf-8").strip()
    token = sign(generated, 5, "ack", "carol", LATER)
    assert verify(signing_secret("", tmp_path), token, NOW).who == "carol"
