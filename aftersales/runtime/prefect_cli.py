"""Prefect's command line with one TLS context per CA bundle (aftersales.runtime.tls): how the stack starts workers.

A worker opens a Prefect client for every run it submits, and each built a new TLS context (~25 CPU ms, 40 % of
a submission in py-spy). Same arguments as `prefect`:

    python -m aftersales.runtime.prefect_cli worker start --pool aftersales --type process
"""

from __future__ import annotations

import sys

from aftersales.runtime import tls


def main() -> None:
    """Run `prefect` with this process's verified TLS contexts shared (it exits as `prefect` does)."""
    tls.share_verified_contexts()
    from prefect.cli import app

    sys.argv[0] = "prefect"
    app()


if __name__ == "__main__":
    main()
