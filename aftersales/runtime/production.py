"""What a web instance checks before it serves in production mode: shared settings and an upgraded schema."""

from __future__ import annotations

from aftersales.config.settings import get_settings
from aftersales.errors import ConfigurationError


def check_ready() -> None:
    """Refuse to start in production mode without a shared database and secrets, or before the migrations ran.

    Instances never migrate at start: several starting at once, each a different build during a rolling update,
    would race. The schema is upgraded once, before start, by `aftersales db upgrade` (README "Production").
    """
    settings = get_settings()
    if not settings.production:
        return
    settings.check_production()
    from aftersales.runtime.db import current_revision, head_revision

    found, head = current_revision(), head_revision()
    if found != head:
        raise ConfigurationError(f"production mode: the database is at revision {found or 'none'}, this build "
                                 f"needs {head}: run `aftersales db upgrade` before starting the web app")
