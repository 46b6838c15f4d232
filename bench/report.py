"""The benchmark table: each measured figure beside its raw baseline, as a ratio."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Row:
    """One benchmark: what hallwatch did, what the raw baseline did, and the targets."""

    name: str
    unit: str
    value: float
    baseline_name: str
    baseline: float
    min_value: float | None = None
    min_ratio: float | None = None
    note: str = ""
    max_value: float | None = None

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else 0.0

    @property
    def ok(self) -> bool:
        return (
            (self.min_value is None or self.value >= self.min_value)
            and (self.min_ratio is None or self.ratio >= self.min_ratio)
            and (self.max_value is None or self.value <= self.max_value)
        )


def print_table(rows: list[Row]) -> bool:
    table = Table(
        "benchmark",
        "hallwatch",
        "raw baseline",
        "ratio",
        "target",
        "met",
        "note",
        title="hallwatch benchmarks (medians)",
    )
    for r in rows:
        target = " and ".join(
            t
            for t in (
                f">= {r.min_value:,.0f} {r.unit}" if r.min_value is not None else "",
                f">= {r.min_ratio:.0%} of raw" if r.min_ratio is not None else "",
                f"<= {r.max_value:,.0f} {r.unit}" if r.max_value is not None else "",
            )
            if t
        )
        table.add_row(
            r.name,
            f"{r.value:,.0f} {r.unit}",
            f"{r.baseline:,.0f} {r.unit} ({r.baseline_name})",
            f"{r.ratio:.1%}",
            target,
            "[green]yes" if r.ok else "[red]no",
            r.note,
        )
    out = Console()
    (out if out.is_terminal else Console(width=160)).print(table)  # piped: every column
    return all(r.ok for r in rows)
