"""The generator's command line: ``python -m infra.simulate --cases 300 --start
2026-03-02 --seed 7 --out FILE`` writes the records as JSON Lines (stdout without
``--out``). The shipped sample, infra/samples/records.jsonl, is this command's output
with the defaults.

It lives here rather than in ``__main__.py`` so that ``infra.simulate`` can re-export
``main`` without importing its own ``__main__`` (which ``python -m`` warns about).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import orjson

from infra.simulate.jsonl import write_jsonl
from infra.simulate.simulation import generate_records

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--cases N --start YYYY-MM-DD --seed S --out FILE`` (stdout without --out)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.cases < 0:
        parser.error("--cases must be >= 0")
    records = generate_records(
        cases=args.cases,
        start=args.start,
        seed=args.seed,
        source=args.source,
        catalogue_path=args.catalogue,
    )
    if args.out is None:
        for record in records:
            sys.stdout.buffer.write(orjson.dumps(record) + b"\n")
        return 0
    count = write_jsonl(records, args.out)
    print(f"wrote {count} records of {args.cases} cases to {args.out}", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.simulate", description="Generate realistic intake records."
    )
    parser.add_argument("--cases", type=int, default=300, help="number of cases (default 300)")
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=date(2026, 3, 2),
        help="first submission day, YYYY-MM-DD",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--source", default="dongguan-hall", help="source name and record_id prefix"
    )
    parser.add_argument(
        "--catalogue", type=Path, default=None, help="catalogue CSV (default: shipped sample)"
    )
    parser.add_argument("--out", type=Path, default=None, help="output file (default: stdout)")
    return parser
