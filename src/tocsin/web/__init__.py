"""The web app served by `tocsin run` (FastAPI, server-rendered Jinja2, no JS framework)."""

from tocsin.web.app import create_app

__all__ = ["create_app"]
