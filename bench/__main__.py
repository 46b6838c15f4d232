"""``python -m bench``: every benchmark, each figure beside a raw baseline measured in the
same run, in one table. ``--quick`` is a CI-sized run of the same commands."""

from __future__ import annotations

import argparse
import sys

from bench.intake import run_intake
from bench.report import print_table

#: ``--quick``: sizes that run in a couple of minutes on a small machine.
QUICK = {"records": 10_000, "events": 10_000, "repeat": 1, "cases": 5_000, "burst": 500}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run (small, 1 run)")
    parser.add_argument(
        "--records", type=int, default=100_000, help="intake records (default 100k)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each side; the median is kept"
    )
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--events", type=int, default=100_000, help="relay events (default 100k)")
    parser.add_argument("--cases", type=int, default=100_000, help="open cases for the alerter")
    parser.add_argument("--burst", type=int, default=10_000, help="deadlines at one midnight")
    parser.add_argument(
        "--only", choices=["intake", "relay", "projector", "alerts"], help="one benchmark"
    )
    args = parser.parse_args(argv)
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
    ok = print_table(rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
