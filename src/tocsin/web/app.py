"""`create_app(settings, store, ...)`: the FastAPI app, its templates and security headers.

Every page is rendered on the server with autoescaping Jinja2 templates; text from the
internet is never marked safe. Responses carry a strict Content-Security-Policy (no inline
script or style, nothing from elsewhere), and are never framed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import jinja2
from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from tocsin import __version__
from tocsin.clock import Clock, SystemClock
from tocsin.config import Settings
from tocsin.configfile import ConfigFile
from tocsin.notify.messages import language_of
from tocsin.store import Store
from tocsin.web.broadcast import Broadcaster
from tocsin.web.i18n import translator

__all__ = ["SECURITY_HEADERS", "create_app"]

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def create_app(
    settings: Settings,
    store: Store,
    *,
    secret: str,
    clock: Clock | None = None,
    broadcaster: Broadcaster | None = None,
    config: ConfigFile | None = None,
) -> FastAPI:
    """The web app of a workspace: `secret` signs and checks action links; `broadcaster`
    carries new mentions to the Live page (`tocsin run` publishes each stored batch);
    `config`, the workspace's tocsin.toml, lets the Settings pages save changes (without
    it they only show the settings)."""
    from tocsin.web import sessions
    from tocsin.web.routes import (
        actions,
        alerts_page,
        api,
        inbox,
        live,
        overview,
        search,
        settings_entries,
        story,
    )
    from tocsin.web.routes import (
        settings as settings_page,
    )

    app = FastAPI(
        title="tocsin",
        version=__version__,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name: internet text is hostile
    )
    templates = Jinja2Templates(env=env)
    language = language_of(settings.notify.language, *settings.organisation.languages)
    templates.env.globals["t"] = translator(language)
    templates.env.globals["lang"] = language
    app.state.settings = settings
    app.state.store = store
    app.state.secret = secret
    app.state.clock = clock or SystemClock()
    app.state.templates = templates
    app.state.broadcaster = broadcaster or Broadcaster()
    app.state.config = config
    sessions.install(app)  # sign-in, roles, CSRF, API tokens, the login and admin pages
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.include_router(actions.router)
    pages = (overview, live, search, story, inbox, alerts_page, settings_page, settings_entries)
    for module in (*pages, api):
        app.include_router(module.router)
    return app
