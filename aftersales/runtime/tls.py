"""One verified TLS context per CA bundle in a process, instead of a new one for every Prefect client.

Prefect 3.8 builds a new `ssl.create_default_context(cafile=certifi.where())` for every client it opens (and it
opens one per API helper, per events and logs worker, per suspension observer), even for an `http://` API: each
parses the whole CA bundle, ~21-27 CPU ms here. A click on a gate link paid ~13 of them (py-spy on the web app,
the worker and the forked flow run during benchmarks/click_bench.py): 40 % of the web app's resume call and of
the worker's submission. A verified context does not change once built (the same CA file, hostname checks on),
and Python's SSLContext may serve any number of connections and threads, so one per CA file is shared.

Only `create_default_context(cafile=...)` for server authentication, with neither `capath` nor `cadata`, is
shared: a context made without a CA file may be loosened by its caller (Prefect's insecure mode sets CERT_NONE on
one), so those stay new each time, except inside `system_context_shared()`, which a caller known to leave it as
made opens for its own thread (Apprise's e-mail plugin builds one for every mail, even plain SMTP, and loosens it
only for a URL with verify=no). A CA file replaced on disk gets a new context (keyed by its mtime). Nothing in our
processes loads a client certificate onto a context (httpx's deprecated `cert=` would, on the shared one).
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_original = ssl.create_default_context
_shared: dict[tuple[str, int], ssl.SSLContext] = {}
_lock = threading.Lock()
_this_thread = threading.local()  # .system: how many system_context_shared() blocks this thread is in
_SYSTEM = ("<system default>", 0)  # the key of the context of the system's CAs


def _create_default_context(purpose: Any = ssl.Purpose.SERVER_AUTH, *, cafile: Any = None, capath: Any = None,
                            cadata: Any = None) -> ssl.SSLContext:
    """`ssl.create_default_context`, shared for a verified CA file (see the module)."""
    if purpose != ssl.Purpose.SERVER_AUTH or capath is not None or cadata is not None:
        return _original(purpose, cafile=cafile, capath=capath, cadata=cadata)
    if cafile is None:
        return _shared_context(_SYSTEM, None) if getattr(_this_thread, "system", 0) else _original(purpose)
    path = os.fspath(cafile)
    try:
        key = (path, os.stat(path).st_mtime_ns)
    except OSError:  # let ssl report the missing file as it would
        return _original(purpose, cafile=cafile)
    return _shared_context(key, path)


def _shared_context(key: tuple[str, int], cafile: str | None) -> ssl.SSLContext:
    """The verified context kept under `key`, built from `cafile` (None: the system's CAs) the first time."""
    with _lock:
        context = _shared.get(key)
        if context is None:
            context = _shared[key] = _original(ssl.Purpose.SERVER_AUTH, cafile=cafile)
        return context


def share_verified_contexts() -> None:
    """Make this process share one verified context per CA file (idempotent); call it before clients are made."""
    ssl.create_default_context = _create_default_context


@contextmanager
def system_context_shared() -> Iterator[None]:
    """In this thread, `create_default_context()` without a CA file returns one shared context of the system's
    CAs, for a caller that never loosens it (no effect unless `share_verified_contexts()` was called)."""
    _this_thread.system = getattr(_this_thread, "system", 0) + 1
    try:
        yield
    finally:
        _this_thread.system -= 1


def preload() -> None:
    """Build the contexts of Prefect's default CA bundle and of the system's CAs now (a fork server's children
    then inherit them)."""
    import certifi

    share_verified_contexts()
    ssl.create_default_context(cafile=certifi.where())
    with system_context_shared():
        ssl.create_default_context()
