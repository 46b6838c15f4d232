"""``python -m bench``: every benchmark, each figure beside a raw baseline measured in the
same run, in one table. ``--quick`` is a CI-sized run of the same commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.intake import run_intake
from bench.report import print_table

#: ``--quick``: sizes that run in a couple of minutes on a small machine.
QUICK = {
    "records": 10_000, "events": 10_000, "repeat": 1, "cases": 5_000, "burst": 500,
    "hall_cases": 5_000, "store_cases": 300, "budget": 3.0,
}  # fmt: skip


def _count(text: str) -> int:
    """A size on the command line: a whole number of at least 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1")
    return n


def _seconds(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < s < 86_400:
        raise argparse.ArgumentTypeError(f"{text!r}: more than 0 and less than a day")
    return s


def _dashboard_options(parser: argparse.ArgumentParser) -> None:
    """The dashboard benchmark's sizes (``bench/dashboard.py``)."""
    parser.add_argument(
        "--hall-cases", type=_count, default=1_000_000, help="cases in the dashboard's hall (1M)"
    )
    parser.add_argument(
        "--store-cases", type=_count, default=9_000, help="cases in the case page's store (9k)"
    )
    parser.add_argument(
        "--backends", default="chdb,server", help="the dashboard's backends: chdb, server or both"
    )
    parser.add_argument(
        "--budget", type=_seconds, default=120.0, help="seconds of runs per dashboard figure (>= 3)"
    )
    parser.add_argument("--no-browser", action="store_true", help="no dashboard start time")
    parser.add_argument(
        "--out-dir", type=Path, default=Path(__file__).parent / "out", help="its table's folder"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run (small, 1 run)")
    parser.add_argument(
        "--records", type=_count, default=100_000, help="intake records (default 100k)"
    )
    parser.add_argument(
        "--repeat", type=_count, default=3, help="runs of each side; the median is kept"
    )
    parser.add_argument("--batch-size", type=_count, default=500)
    parser.add_argument(
        "--events", type=_count, default=100_000, help="relay events (default 100k)"
    )
    parser.add_argument("--cases", type=_count, default=100_000, help="open cases for the alerter")
    parser.add_argument("--burst", type=_count, default=10_000, help="deadlines at one midnight")
    _dashboard_options(parser)
    parser.add_argument(
        "--only",
        choices=["intake", "relay", "projector", "alerts", "dashboard"],
        help="one benchmark",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if not backends or set(backends) - {"chdb", "server"}:
        parser.error(f"--backends {args.backends!r}: chdb, server or chdb,server")
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    rows = []
    if args.only in (None, "intake"):
        rows += run_intake(records=args.records, repeat=args.repeat, batch_size=args.batch_size)
    if args.only in (None, "relay"):
        from bench.relay import run_relay

        rows += run_relay(events=args.events, repeat=args.repeat)
    if args.only in (None, "projector"):
        from bench.projector import run_projector

        rows += run_projector(events=args.events, repeat=args.repeat)
    if args.only in (None, "alerts"):
        from bench.alerts import run_alerts

        rows += run_alerts(cases=args.cases, burst=args.burst)
    if args.only in (None, "dashboard"):
        from bench.dashboard import run_dashboard

        rows += run_dashboard(
            cases=args.hall_cases,
            store_cases=args.store_cases,
            backends=backends,
            budget_s=args.budget,
            browser=not args.no_browser,
            out_dir=args.out_dir,
        )
    ok = print_table(rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
