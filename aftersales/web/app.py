"""The web app: gate pages answered from links, the operations view, the demo inbox, and the case API."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from aftersales.config.settings import get_settings
from aftersales.errors import ConfigurationError, Forbidden, NotFound, RuleViolation
from aftersales.web import api, pages

log = logging.getLogger("aftersales.web")


def create_app() -> FastAPI:
    """Build the app; nothing connects at import time."""
    app = FastAPI(title="aftersales", version="0.1.0", description="After-sales procedures: gates, cases, operations")
    app.include_router(api.router)
    app.include_router(pages.router)
    static = get_settings().templates_dir / "web" / "static"
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ops")

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.exception_handler(NotFound)
    def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(RuleViolation)
    def _rule(request: Request, exc: RuleViolation) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(ConfigurationError)
    def _config(request: Request, exc: ConfigurationError) -> JSONResponse:
        log.error("configuration error: %s", exc)
        return JSONResponse({"detail": f"configuration error: {exc}"}, status_code=500)

    return app


def app_factory() -> Any:
    """Entry point for uvicorn --factory."""
    return create_app()
