"""Notify: alert messages, channels (apprise) and the outbox that delivers them."""

from __future__ import annotations
