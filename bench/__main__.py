"""``python -m bench [--records N]``: run every benchmark and print one table."""

from __future__ import annotations

import argparse
import sys

from bench.intake import run_intake
from bench.report import print_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--records", type=int, default=100_000, help="intake records (default 100k)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each side; the median is kept"
    )
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--events", type=int, default=100_000, help="relay events (default 100k)")
    parser.add_argument(
        "--only", choices=["intake", "relay", "projector", "alerts"], help="one benchmark"
    )
    args = parser.parse_args(argv)
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

        rows += run_alerts()
    ok = print_table(rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
