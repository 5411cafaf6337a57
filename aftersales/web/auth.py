"""Sign-in, sessions and who may open what: every route refuses an anonymous visitor unless it is public.

Routes declare what they need with FastAPI dependencies:

    @router.get("/ops/late")
    def late(person: Person = Depends(operations_staff)): ...      # policy.yaml access.operations
    def x(person: Person = Depends(require_roles("finance"))): ...  # any of these roles
    def y(person: Person = Depends(current_staff)): ...            # anyone signed in
    def z(caller: Caller = Depends(api_caller)): ...               # a session or an intake key (API)

Behind them, `install` puts a default-deny gatekeeper in front of every route, so a route that forgets its
dependency still needs a signed-in person (pages: 302 to /signin; /api: 401), and an intake key opens only
POST /api/cases and GET /api/cases/{number}.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aftersales.access import keys as intake_keys
from aftersales.access import oidc
from aftersales.access.cases import is_operations, key_may_read, staff_may_read
from aftersales.access.passwords import check_password
from aftersales.access.ratelimit import RateLimit
from aftersales.config.policy import get_policy
from aftersales.config.settings import get_settings
from aftersales.config.staff import Person, get_staff
from aftersales.errors import AftersalesError, Forbidden, NotFound
from aftersales.web.language import accepted_language

log = logging.getLogger("aftersales.web.auth")
router = APIRouter(include_in_schema=False)

SESSION_COOKIE = "aftersales_session"
# Open without sign-in: a gate link carries its own credential (the signed token); health for monitors.
# A recall acknowledgement link, likewise, is its own credential (aftersales.recall.acks).
PUBLIC_PATHS = frozenset({"/healthz", "/signin", "/signin/oidc", "/signin/oidc/callback", "/signout", "/recall/ack"})
PUBLIC_PREFIXES = ("/gates/", "/static/")
KEY_ROUTES = ("POST /api/cases", "GET /api/cases/")  # everything an intake key may do
SIGNIN_ATTEMPTS_PER_MINUTE = 10

_viewer: ContextVar[Person | None] = ContextVar("aftersales_viewer", default=None)


class SignInRequired(AftersalesError):
    """No signed-in person (or no valid key for the API): pages go to sign-in, the API answers 401."""


class AccessDenied(Forbidden):
    """Signed in, but this person or key may not see this; the message says why."""


@dataclass(frozen=True)
class Caller:
    """Who calls the API: a signed-in person or an intake key."""

    person: Person | None = None
    key: intake_keys.IntakeKey | None = None

    @property
    def opened_by(self) -> str:
        """What a case opened by this caller records (a key reads back only the cases it opened)."""
        if self.key is not None:
            return f"key:{self.key.channel}:{self.key.digest[:16]}"
        assert self.person is not None
        return f"staff:{self.person.id}"


def viewer() -> Person | None:
    """The signed-in person of the request being served (for templates)."""
    return _viewer.get()


# --- dependencies ------------------------------------------------------------------------------------


def session_person(request: Request) -> Person | None:
    """The person of a valid, unexpired session whom the directory still knows; None otherwise."""
    session = request.scope.get("session") or {}
    staff_id, until = session.get("staff"), session.get("until", 0)
    if not isinstance(staff_id, str) or not isinstance(until, int | float) or until < time.time():
        return None
    try:
        return get_staff().person(staff_id)
    except NotFound:  # removed from the directory: the sign-in ends with it
        return None


def current_staff(request: Request) -> Person:
    """Dependency: the signed-in person, else SignInRequired (302 to sign-in; 401 on the API)."""
    person = session_person(request)
    if person is None:
        raise SignInRequired("sign in first")
    return person


def require_roles(*roles: str) -> Callable[[Request], Person]:
    """Dependency factory: a signed-in person holding any of `roles`, else 403 naming them."""

    def dependency(request: Request) -> Person:
        person = current_staff(request)
        if not set(person.roles) & set(roles):
            raise AccessDenied(f"{person.id} holds none of the roles this page needs: {', '.join(roles)}")
        return person

    return dependency


def operations_staff(request: Request) -> Person:
    """Dependency: a signed-in person of the operations roles (policy.yaml `access.operations`)."""
    return require_roles(*get_policy().access.operations)(request)


def api_caller(request: Request) -> Caller:
    """Dependency: an intake key (Authorization: Bearer) or a signed-in person; 401 otherwise."""
    found = request.scope.get("aftersales.caller")
    if isinstance(found, Caller):
        return found
    caller = _caller(request)
    if caller is None:
        raise SignInRequired("send an intake API key (Authorization: Bearer KEY) or sign in")
    return caller


def may_read_case(number: str, caller: Caller) -> None:
    """AccessDenied unless the caller may read this case (NotFound when there is no such case)."""
    if caller.key is not None:
        if not key_may_read(number, caller.opened_by):
            raise AccessDenied(f"this intake key ({caller.key.channel}) did not open case {number}")
        return
    assert caller.person is not None
    if not staff_may_read(number, caller.person):
        raise AccessDenied(f"{caller.person.id} holds no step of case {number} and is not operations "
                           f"({', '.join(get_policy().access.operations)})")


@lru_cache(maxsize=4)
def _configured_keys(entries: tuple[str, ...]) -> list[intake_keys.IntakeKey]:
    return intake_keys.parse_keys(list(entries))


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _caller(request: Request) -> Caller | None:
    token = _bearer(request)
    if token is not None:
        key = intake_keys.match_key(_configured_keys(tuple(get_settings().intake_api_keys)), token)
        return Caller(key=key) if key else None
    person = session_person(request)
    return Caller(person=person) if person else None


# --- refusals ------------------------------------------------------------------------------------------


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything else (another host, a scheme, //x) is /ops."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/ops"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 or ch == "\\" for ch in target):
        return "/ops"
    return target


def _to_signin(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # A relative Location: never built from the Host header.
    return RedirectResponse(f"/signin?next={quote(safe_next(target), safe='')}", status_code=302)


def _unauthorized(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def _refuse_sign_in(request: Request, exc: Exception) -> Response:
    return _unauthorized(str(exc)) if _is_api(request.url.path) else _to_signin(request)


def _refuse_access(request: Request, exc: Exception) -> Response:
    if _is_api(request.url.path):
        return JSONResponse({"detail": str(exc)}, status_code=403)
    from aftersales.web.pages import render

    person = session_person(request)
    return render("refused.html", 403, reason="forbidden", message=str(exc),
                  lang=person.language if person else "zh")


async def _gatekeeper(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Default deny: only the public paths open without a session; an intake key opens its two API routes."""
    path = request.url.path
    person = session_person(request)
    token = _viewer.set(person)
    try:
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return await call_next(request)
        if _is_api(path) and _bearer(request) is not None:
            caller = _caller(request)
            if caller is None:
                return _unauthorized("unknown intake API key")
            route = f"{request.method} {path}"
            if not (route == KEY_ROUTES[0] or (route.startswith(KEY_ROUTES[1]) and path.count("/") == 3)):
                return JSONResponse({"detail": "an intake API key may open cases and read the cases it opened, "
                                               "nothing else"}, status_code=403)
            request.scope["aftersales.caller"] = caller
            return await call_next(request)
        if person is None:
            return _refuse_sign_in(request, SignInRequired("sign in first"))
        return await call_next(request)
    finally:
        _viewer.reset(token)


class SecurityHeaders:
    """Headers on every response: no framing, no referrer (token pages), no caching of anything personal."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [(b"content-security-policy", b"frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
                         (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
                         (b"x-content-type-options", b"nosniff")]
                if not cacheable:
                    extra.append((b"cache-control", b"no-store"))
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    """Sign-in routes, refusals, the gatekeeper, sessions, security headers and trusted hosts, on `app`.

    Configuration is checked here, so a bad key list or OIDC setting stops the web app at start, naming it.
    """
    settings = get_settings()
    _configured_keys(tuple(settings.intake_api_keys))
    oidc.check(settings)
    app.include_router(router)
    app.add_exception_handler(SignInRequired, _refuse_sign_in)
    app.add_exception_handler(AccessDenied, _refuse_access)
    app.state.intake_limit = RateLimit(settings.intake_rate_per_minute)
    app.state.signin_limit = RateLimit(SIGNIN_ATTEMPTS_PER_MINUTE)
    # Added innermost first: trusted hosts outermost, then headers, then the session the gatekeeper reads.
    app.middleware("http")(_gatekeeper)
    app.add_middleware(SessionMiddleware, secret_key=settings.session_key(), session_cookie=SESSION_COOKIE,
                       max_age=int(settings.session_hours * 3600), same_site="lax",
                       https_only=settings.public_base_url.startswith("https://"))
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=trusted_hosts())


def trusted_hosts() -> list[str]:
    """The configured host names, plus the host of the public base URL that links in messages point at."""
    settings = get_settings()
    hosts = list(settings.trusted_hosts)
    public = urlsplit(settings.public_base_url).hostname
    if public and public not in hosts:
        hosts.append(public)
    return hosts


def intake_rate_limited(request: Request, caller: Caller) -> JSONResponse | None:
    """429 with Retry-After when this key (or a person's address) opened too many cases this minute."""
    who = caller.opened_by if caller.key else f"ip:{request.client.host if request.client else '?'}"
    wait = request.app.state.intake_limit.hit(who, time.monotonic())
    if not wait:
        return None
    return JSONResponse({"detail": f"too many cases opened; try again in {wait} s"}, status_code=429,
                        headers={"Retry-After": str(wait)})


# --- sign-in and sign-out --------------------------------------------------------------------------------


def _signin_page(request: Request, next_path: str, error: str = "", status: int = 200, staff_id: str = "") -> Response:
    from aftersales.web.pages import render

    lang = accepted_language(request.headers.get("accept-language", ""))
    return render("signin.html", status, lang=lang, next=next_path, error=error, staff_id=staff_id,
                  oidc=oidc.configured(get_settings()))


def _start_session(request: Request, person: Person) -> None:
    request.session.clear()  # nothing of a previous session survives a sign-in
    request.session.update({"staff": person.id, "until": int(time.time() + get_settings().session_hours * 3600)})
    log.info("%s signed in", person.id)


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str = "/ops") -> Response:  # noqa: A002 - the parameter's public name
    """The sign-in form (or, with OpenID Connect configured, the button to the company's provider)."""
    return _signin_page(request, safe_next(next))


@router.post("/signin", response_class=HTMLResponse)
def signin(request: Request, staff_id: str = Form(""), password: str = Form(""), next: str = Form("/ops")) -> Response:  # noqa: A002
    """Check a local password; on success a new session and back to where the person was going."""
    target = safe_next(next)
    if oidc.configured(get_settings()):
        return _signin_page(request, target, "oidc", 400)
    address = request.client.host if request.client else "?"
    wait = request.app.state.signin_limit.hit(f"{address}:{staff_id}", time.monotonic())
    if wait:
        response = _signin_page(request, target, "slow", 429, staff_id)
        response.headers["Retry-After"] = str(wait)
        return response
    staff_id = staff_id.strip()
    try:
        person = get_staff().person(staff_id)
    except NotFound:
        person = None
    # The same answer for an unknown id and a wrong password (check_password spends the same time on both).
    if not check_password(staff_id, password) or person is None:
        return _signin_page(request, target, "wrong", 401, staff_id)
    _start_session(request, person)
    return RedirectResponse(target, status_code=303)


@router.get("/signin/oidc")
async def signin_oidc(request: Request, next: str = "/ops") -> Response:  # noqa: A002
    """Send the browser to the provider's authorize URL (from its discovery document)."""
    settings = get_settings()
    if not oidc.configured(settings):
        return JSONResponse({"detail": "OpenID Connect is not configured"}, status_code=404)
    request.session["next"] = safe_next(next)
    redirect_uri = f"{settings.public_base_url.rstrip('/')}/signin/oidc/callback"
    response: Response = await oidc.client(settings).authorize_redirect(request, redirect_uri)
    return response


@router.get("/signin/oidc/callback")
async def signin_oidc_callback(request: Request) -> Response:
    """The provider's answer: the claims name a person of the directory, or the sign-in is refused."""
    settings = get_settings()
    if not oidc.configured(settings):
        return JSONResponse({"detail": "OpenID Connect is not configured"}, status_code=404)
    target = safe_next(request.session.get("next"))
    try:
        token: dict[str, Any] = await oidc.client(settings).authorize_access_token(request)
    except Exception as exc:  # noqa: BLE001 - any failure of the exchange is a refused sign-in, logged
        log.warning("OpenID Connect sign-in failed: %s", exc)
        return _signin_page(request, target, "oidc_failed", 401)
    claims = dict(token.get("userinfo") or {})
    staff_id = oidc.staff_id_for(claims, settings, get_staff())
    if staff_id is None:
        log.warning("OpenID Connect sign-in of %r: no such person in the staff directory",
                    claims.get(settings.oidc_claim))
        return _signin_page(request, target, "unknown", 403)
    _start_session(request, get_staff().person(staff_id))
    return RedirectResponse(target, status_code=303)


@router.api_route("/signout", methods=["GET", "POST"])
def signout(request: Request) -> Response:
    """End the session (the cookie is emptied) and go back to the sign-in page."""
    request.session.clear()
    return RedirectResponse("/signin", status_code=303)


def ensure_operations(person: Person) -> None:
    """AccessDenied unless the person is operations (for checks inside a route)."""
    if not is_operations(person):
        raise AccessDenied(f"{person.id} is not operations ({', '.join(get_policy().access.operations)})")
