"""A sliding-window rate limit per caller (intake key or address), kept in the web process's memory.

Per instance on purpose (README "Production"): behind a proxy spreading requests over N instances a caller gets at
most N x the limit, still a bound on password guessing and runaway intake, and no instance needs another's
memory (a lost instance loses only its counts). A limit shared by all instances belongs in the reverse proxy
(nginx `limit_req`), where it costs no database write per sign-in attempt. Behind a proxy the address is the
client's only when uvicorn trusts the proxy's X-Forwarded-For (`--proxy-headers --forwarded-allow-ips`).
"""

from __future__ import annotations

import math
import threading
from collections import deque


class RateLimit:
    """At most `limit` events per `window` seconds per caller; `hit` says how long to wait when over."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, caller: str, now: float) -> int:
        """Count one event; 0 when allowed, else the whole seconds until the caller may try again."""
        with self._lock:
            events = self._events.setdefault(caller, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return max(1, math.ceil(events[0] + self.window - now))
            events.append(now)
            if len(self._events) > 10_000:  # forget callers that went quiet, so memory stays bounded
                for key in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window]:
                    del self._events[key]
            return 0
