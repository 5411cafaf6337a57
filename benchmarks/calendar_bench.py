"""Throughput of the business calendar: BusinessCalendar.add per unit, and working_time_between.

Start times are random aware instants (UTC) spread over 2025-01-01 .. 2026-12-31, so the arithmetic crosses
weekends, Chinese public holidays, make-up working days and (near the end of 2026) the holidays-package
estimate for 2027. Each figure is measured twice on the same inputs: "cold" on a fresh calendar whose per-day
cache is empty (every day looked up in its layer once), then "warm" with the cache filled, which is the
steady state of a long-running worker or sweep.

    .venv/bin/python benchmarks/calendar_bench.py [--n 50000] [--seed 1]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aftersales.sla.calendar import BusinessCalendar  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_SECONDS = int((datetime(2027, 1, 1, tzinfo=UTC) - START).total_seconds())

# Amounts drawn per unit, roughly what policy.yaml and its ladders use (and somewhat beyond).
AMOUNTS: dict[str, Callable[[random.Random], float]] = {
    "natural_hours": lambda r: r.choice([1, 2, 12, 24, 48]),
    "working_hours": lambda r: r.choice([0.5, 1, 2, 4, 8, 24, 40]),
    "working_days": lambda r: r.choice([1, 2, 3, 5, 10]),
    "natural_days": lambda r: r.choice([1, 5, 7, 14, 30]),
}


def new_calendar() -> BusinessCalendar:
    """The shipped calendar (policy.yaml defaults): 08:30-17:30 Asia/Shanghai, weekend fallback on."""
    return BusinessCalendar(fallback_weekends=True)


def random_starts(rng: random.Random, n: int) -> list[datetime]:
    return [START + timedelta(seconds=rng.randrange(SPAN_SECONDS)) for _ in range(n)]


def timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_add(unit: str, starts: list[datetime], amounts: list[float]) -> tuple[float, float]:
    """(cold seconds, warm seconds) for len(starts) calls of cal.add(start, amount, unit)."""
    cal = new_calendar()
    pairs = list(zip(starts, amounts, strict=True))

    def run() -> None:
        add = cal.add
        for start, amount in pairs:
            add(start, amount, unit)

    return timed(run), timed(run)


def bench_between(starts: list[datetime], ends: list[datetime]) -> tuple[float, float]:
    cal = new_calendar()
    pairs = list(zip(starts, ends, strict=True))

    def run() -> None:
        between = cal.working_time_between
        for a, b in pairs:
            between(a, b)

    return timed(run), timed(run)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50000, help="calls per operation and pass (default 50000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    # The 2027 estimate logs one warning per calendar; it is expected here and would only clutter the table.
    logging.getLogger("aftersales.sla.calendar").setLevel(logging.ERROR)

    rng = random.Random(args.seed)
    rows: list[tuple[str, float, float]] = []
    for unit, draw in AMOUNTS.items():
        starts = random_starts(rng, args.n)
        amounts = [draw(rng) for _ in range(args.n)]
        cold, warm = bench_add(unit, starts, amounts)
        rows.append((f"add {unit}", cold, warm))

    starts = random_starts(rng, args.n)
    # Spans from 0 to 30 days: a gate's age as the overview page and SLA reports compute it.
    ends = [s + timedelta(seconds=rng.randrange(30 * 86400)) for s in starts]
    cold, warm = bench_between(starts, ends)
    rows.append(("working_time_between (0-30 d)", cold, warm))

    print(f"BusinessCalendar, {args.n} calls per row, random aware starts in 2025-2026 (seed {args.seed})")
    print(f"python {sys.version.split()[0]}")
    print()
    header = f"{'operation':<32} {'cold ops/s':>12} {'cold µs/call':>13} {'warm ops/s':>12} {'warm µs/call':>13}"
    print(header)
    print("-" * len(header))
    for name, cold, warm in rows:
        print(f"{name:<32} {args.n / cold:>12,.0f} {cold / args.n * 1e6:>13.2f} "
              f"{args.n / warm:>12,.0f} {warm / args.n * 1e6:>13.2f}")
    print()
    print("cold = fresh calendar, per-day cache empty; warm = same inputs again with the cache filled")


if __name__ == "__main__":
    main()
