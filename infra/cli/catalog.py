"""``hallwatch catalog load|show``: the service catalogue (事项目录).

Refused rows are listed with their line number and reason and kept in a reject
file; the rest of the file still loads (docs/contracts.md §1).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson
from rich.table import Table

from domain.catalogue import CatalogueError, parse_catalogue, sample_catalogue_path
from infra.cli.context import current_settings, open_store
from infra.cli.files import open_private, rejects_path
from infra.cli.output import EXIT_REFUSED, console, fail, print_json, safe, usage_error


@click.group()
def catalog() -> None:
    """The service catalogue (事项目录)."""


@catalog.command("load")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def catalog_load(file: Path) -> None:
    """Load a catalogue CSV; refused rows are listed with line number and reason."""
    settings = current_settings()
    if str(file) == "sample":
        file = sample_catalogue_path()
    if not file.exists():
        usage_error(f"catalogue file {file} does not exist")
    try:
        parsed = parse_catalogue(file)
    except CatalogueError as e:
        fail(str(e))  # the file as a whole is refused
    with open_store(settings) as app:
        result = app.load_catalogue(parsed, loaded_from=file.name)
    console.print(
        f"catalogue {safe(file)}: [green]{result.added} new item versions[/], "
        f"{result.unchanged} unchanged, [red]{len(result.refusals)} refused[/]"
    )
    if result.refusals:
        raw = {r.line: r.raw for r in parsed.refusals}
        out = rejects_path(settings, file, None)
        with open_private(out) as f:
            for line, reason in result.refusals:
                f.write(
                    orjson.dumps(
                        {"file": str(file), "line": line, "reason": reason, "row": raw.get(line)}
                    )
                    + b"\n"
                )
        table = Table("line", "reason", title="refused rows")
        for line, reason in result.refusals:
            table.add_row(str(line), safe(reason))
        console.print(table)
        console.print(f"refused rows kept in {safe(out)}")
        sys.exit(EXIT_REFUSED)


@catalog.command("show")
@click.argument("item_code", required=False)
@click.option("--json", "as_json", is_flag=True)
def catalog_show(item_code: str | None, as_json: bool) -> None:
    """List the catalogue, or every version of one item."""
    with open_store(current_settings()) as app:
        cat = app.catalogue()
    versions = (
        cat.versions(item_code)
        if item_code
        else tuple(v for code in cat.codes() if (v := cat.latest(code)) is not None)
    )
    if item_code and not versions:
        fail(f"unknown service item {item_code}")
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    table = Table("item", "name", "department", "category", "法定", "承诺", "steps", "from")
    for v in versions:
        table.add_row(
            safe(v.item_code),
            safe(v.item_name),
            safe(v.department),
            safe(v.category),
            str(v.statutory_days),
            str(v.promised_days),
            safe(";".join(f"{s.name}:{s.days}" for s in v.steps)),
            v.valid_from.isoformat(),
        )
    console.print(table)
