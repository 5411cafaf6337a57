"""The web app: gate pages answered from links, the operations view, the demo inbox, and the case API."""

from __future__ import annotations

import html
import logging
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import exc as sa_exc

from aftersales.config.settings import get_settings
from aftersales.errors import (
    ConfigurationError,
    Forbidden,
    IntegrationError,
    NotFound,
    RuleViolation,
    is_database_failure,
    one_line,
)
from aftersales.procedures import registry
from aftersales.runtime.production import check_ready
from aftersales.web import api, auth, ops, pages, recall
from aftersales.web.language import accepted_language
from models.safe_input import printable

log = logging.getLogger("aftersales.web")

RETRY_AFTER_SECONDS = 60
# What answers 503: our IntegrationError, the database being unusable, and outside network failures.
UNAVAILABLE: tuple[type[Exception], ...] = (
    IntegrationError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    TimeoutError,
    ConnectionError,
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def create_app() -> FastAPI:
    """Build the app; nothing connects at import time."""
    check_ready()  # production mode: shared database and secrets, schema upgraded before start
    registry.procedures()  # import every declaration now: their gate inputs must be known to the forms
    app = FastAPI(title="aftersales", version="0.1.0", description="After-sales procedures: gates, cases, operations")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(ops.router)
    app.include_router(recall.router)
    auth.install(app)  # sign-in, default-deny gatekeeper, sessions, security headers, trusted hosts
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
    def _config(request: Request, exc: ConfigurationError) -> Response:
        log.error("configuration error on %s %s: %s", request.method, request.url.path, exc)
        if _wants_json(request):
            return JSONResponse({"detail": f"configuration error: {exc}", "file": exc.file, "key": exc.key},
                                status_code=500)
        return _error_page(request, 500, reason="configuration", message=exc.reason, file=exc.file, key=exc.key)

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": refusal_details(exc.errors())}, status_code=422)

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, _unavailable)

    return app


def refusal_details(errors: Any) -> list[dict[str, Any]]:
    """A 422's errors without the refused values: they may not encode (lone surrogates, NaN) and they may be
    personal data; the location and the message say what to fix."""
    return [{"loc": [printable(str(part)) if isinstance(part, str) else part for part in err.get("loc", ())],
             "type": err.get("type", "value_error"), "msg": printable(str(err.get("msg", "")))}
            for err in errors]


def _wants_json(request: Request) -> bool:
    return request.url.path == "/api" or request.url.path.startswith("/api/")


def _unavailable(request: Request, exc: Exception) -> Response:
    """503 with Retry-After: a page in the reader's language, or JSON for the API; never a traceback."""
    database = is_database_failure(exc)
    log.warning("%s unavailable on %s %s: %s: %s", "database" if database else "outside service", request.method,
                request.url.path, type(exc).__name__, one_line(exc))
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    # A driver's message names hosts and users: the log has it, the reader gets what to do.
    detail = "" if database else one_line(exc)
    if _wants_json(request):
        what = "the database is unreachable" if database else f"an outside service failed: {detail}"
        return JSONResponse({"detail": f"service unavailable, try again later: {what}"}, status_code=503,
                            headers=headers)
    return _error_page(request, 503, headers, reason="database" if database else "integration", message=detail)


def _error_page(request: Request, status: int, headers: dict[str, str] | None = None, **context: Any) -> Response:
    """templates/web/unavailable.html, or plain HTML if even that cannot be rendered (templates misconfigured)."""
    lang, staff_view = _reader(request)
    try:
        page = pages.render("unavailable.html", status, lang=lang, staff_view=staff_view,
                            retry_after=RETRY_AFTER_SECONDS, **{"file": None, "key": None, **context})
    except Exception:  # noqa: BLE001 - the error page must not fail in turn
        log.exception("the error page could not be rendered")
        text = " · ".join(str(v) for k, v in context.items() if v and k != "reason")
        page = HTMLResponse(f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{html.escape(text)}</p>",
                            status_code=status)
    page.headers.update(headers or {})
    return page


def _reader(request: Request) -> tuple[str, bool]:
    """The reader's language and whether they are staff, known without the database.

    A gate link (?t=) names its person: staff read their own language (staff file); a customer's language is
    on the case, in the database that may be down, so the browser's preference decides. No link: staff.
    """
    token = request.query_params.get("t")
    if token:
        try:
            from aftersales.config.staff import CUSTOMER, get_staff
            from aftersales.gates import tokens

            settings = get_settings()
            claims = tokens.verify(settings.signing_key(), token, 10 * 365 * 24 * 3600)
            if claims.person_id != CUSTOMER:
                return get_staff().person(claims.person_id).language, True
        except Exception:  # noqa: BLE001 - best effort: fall back on the browser's language
            pass
        return accepted_language(request.headers.get("accept-language", "")), False
    return accepted_language(request.headers.get("accept-language", "")), True


def app_factory() -> Any:
    """Entry point for uvicorn --factory."""
    from aftersales.runtime import tls

    tls.share_verified_contexts()  # a Prefect client per resume built a TLS context each: 40 % of the resume call
    return create_app()
