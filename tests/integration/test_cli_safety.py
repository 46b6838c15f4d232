"""Terminal safety and personal data in the CLI's own output (终端安全).

Towns, departments, handlers, case ids and refusal reasons come from hall systems:
``[/]`` must not crash a view, ``[red]`` or ``[link=…]`` must not restyle it, and
no escape sequence may reach the terminal; all of them show literally. Real stores:
the SQLite event store and the embedded ClickHouse, the CLI in its own process.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain.catalogue import parse_catalogue, parse_catalogue_text, sample_catalogue_path
from infra.settings import Settings
from infra.wiring import open_app
from projections.clickhouse import ChdbBackend
from projections.migrations import migrate
from projections.runner import ProjectionRunner
from streams.alerter import Alerter
from streams.cloudevents import stored_cloudevents
from tests.support import rec, submitted

#: Rich markup that crashed or restyled the views, and what control characters do.
MARKUP = ["[/]", "[/x]", "[red]x", "[link=http://e]x[/link]"]
CONTROL = ["\x1b[31mred", "\x07bell"]
#: How each control value must be shown: written out, never sent.
SHOWN = {"\x1b[31mred": "\\x1b[31mred", "\x07bell": "\\x07bell"}
EMOJI = ":warning:x"
#: Intake (and the catalogue) refuse control characters in names and identifiers, so
#: they reach the views only through free text: a complaint's content, a step's opinion.
TOWNS = [*MARKUP, EMOJI, "北城街道", "西城街道"]
DEPARTMENTS = MARKUP
SECRET_KEY = b"k" * 32

CATALOGUE_HEAD = (
    "item_code,item_name,department,category,statutory_days,promised_days,steps,"
    "online_depth,fully_online,suspendable,extension_days,valid_from\n"
)


def _records() -> list[dict[str, Any]]:
    """One open, overdue case per hostile town, in a department named with markup or controls,
    its step handled by a hostile handler, and a complaint about it."""
    out: list[dict[str, Any]] = []
    for i, town in enumerate(TOWNS):
        cid = f"EV{i}"
        out += [
            submitted(cid, "2026-03-02 09:00", item_code=f"EV-{i % len(DEPARTMENTS)}", town=town),
            rec("accepted", "2026-03-03 09:00", case_id=cid, receipt_no=f"SL-{cid}"),
            rec("step_started", "2026-03-03 10:00", case_id=cid, step="审查", handler=town),
            rec(
                "complaint_filed",
                "2026-03-04 10:00",
                complaint_id=f"TS-{cid}",
                case_id=cid,
                channel="web",
                content=CONTROL[i % len(CONTROL)] + town,
            ),
        ]
    for i, department in enumerate(MARKUP):  # a complaint about a department, not a case
        out.append(
            rec(
                "complaint_filed",
                "2026-03-04 11:00",
                complaint_id=f"TD-{i}",
                department=department,
                channel="hotline",
                content="窗口态度差",
            )
        )
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data folder whose store and ClickHouse hold the hostile values."""
    data = tmp_path_factory.mktemp("hostile") / "data"
    settings = Settings(data_dir=data, secret_key=SECRET_KEY)
    app = open_app(settings)
    try:
        app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
        rows = "".join(
            f'EV-{i},"{v}事项","{v}",licence,10,5,审查:3;决定:2,2,false,false,0,2025-01-01\n'
            for i, v in enumerate(DEPARTMENTS)
        )
        loaded = app.load_catalogue(parse_catalogue_text(CATALOGUE_HEAD + rows), "hostile")
        assert loaded.added == len(DEPARTMENTS), loaded.refusals
        outcomes = app.ingest([orjson.dumps(r) for r in _records()])
        assert [o.reason for o in outcomes if o.status != "applied"] == []
        alerter = Alerter(app)
        alerter.start()
        alerter.tick()
        assert alerter.stats.raised > 0
        values = [m.value for m in stored_cloudevents(app.stored_rows(), "test-hall")]
    finally:
        app.close()
    ch = ChdbBackend(settings.clickhouse_path)
    try:
        migrate(ch)
        ProjectionRunner(ch, consumer=None).project(values)
    finally:
        ch.close()
    yield data


def hallwatch(data: Path, *args: str, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HALLWATCH_CLICKHOUSE_URL", "HALLWATCH_DATABASE_URL")
    }
    env.update(HALLWATCH_DATA_DIR=str(data), HALLWATCH_SECRET_KEY=SECRET_KEY.hex(), COLUMNS="250")
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        cwd=Path(__file__).resolve().parents[2],
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )


def assert_shown_literally(out: subprocess.CompletedProcess[str], values: list[str]) -> None:
    """No traceback; every value printed as written; no control character sent."""
    text = out.stdout + out.stderr
    assert "Traceback" not in text, text[-3000:]
    for v in values:
        assert SHOWN.get(v, v) in out.stdout, (v, out.stdout[-3000:])
    sent = [c for c in text if (ord(c) < 0x20 and c not in "\n") or 0x7F <= ord(c) < 0xA0]
    assert sent == [], sent


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("cases",), [*TOWNS]),
        (("cases", "--open", "--as-of", "2026-03-20"), [*TOWNS]),
        (("alerts",), [*TOWNS]),
        (("alerts", "--open"), [*MARKUP]),
        (("rank", "--month", "2026-03", "--by", "town"), [*TOWNS]),
        (("rank", "--month", "2026-03", "--by", "department"), [*DEPARTMENTS]),
    ],
    ids=["cases", "cases-as-of", "alerts", "alerts-open", "rank-town", "rank-department"],
)
def test_read_model_views_show_markup_and_controls_literally(
    hostile: Path, args: tuple[str, ...], expected: list[str]
) -> None:
    out = hallwatch(hostile, *args)
    assert out.returncode == 0, out.stderr[-3000:]
    assert_shown_literally(out, expected)


@pytest.mark.parametrize("index", range(len(TOWNS)))
def test_case_view_shows_town_department_and_handler_literally(hostile: Path, index: int) -> None:
    out = hallwatch(hostile, "case", f"EV{index}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert_shown_literally(out, [TOWNS[index], DEPARTMENTS[index % len(DEPARTMENTS)]])


def test_case_views_show_the_applicant_name_masked(hostile: Path) -> None:
    table = hallwatch(hostile, "case", "EV0")
    assert "张*" in table.stdout and "张三" not in table.stdout
    view = orjson.loads(hallwatch(hostile, "case", "EV0", "--json").stdout)
    assert view["applicant_name"] == "张*"
    submitted_event = next(e for e in view["events"] if e["type"] == "case.submitted")
    assert submitted_event["data"]["applicant_name"] == "张*"
    assert "applicant_id" not in orjson.dumps(view).decode()


@pytest.mark.parametrize("index", range(len(TOWNS)))
def test_complaint_view_shows_its_department_literally(hostile: Path, index: int) -> None:
    out = hallwatch(hostile, "complaint", f"TS-EV{index}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert_shown_literally(out, [f"TS-EV{index}"])
    assert "complaint.filed" in out.stdout


@pytest.mark.parametrize("index", range(len(MARKUP)))
def test_complaint_about_a_hostile_department_shows_it_literally(hostile: Path, index: int) -> None:
    out = hallwatch(hostile, "complaint", f"TD-{index}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert_shown_literally(out, [MARKUP[index]])


@pytest.mark.parametrize("ref", [*MARKUP, *CONTROL, "[bold]EV0"])
def test_an_unknown_hostile_reference_is_a_clear_error(hostile: Path, ref: str) -> None:
    for command in ("case", "complaint", "order"):
        out = hallwatch(hostile, command, ref)
        assert out.returncode == 1, (command, out.stderr)
        assert "Traceback" not in out.stderr
        assert "error:" in out.stderr and SHOWN.get(ref, ref) in out.stderr, out.stderr
        assert "\x1b" not in out.stderr and "\x07" not in out.stderr


def test_ingest_summary_shows_refused_hostile_values_literally(hostile: Path) -> None:
    folder = hostile.parent
    bad = [rec("resumed", "2026-03-05 09:00", case_id=v) for v in [*MARKUP, *CONTROL, EMOJI]]
    bad.append({"record_id": "k1", "kind": "[/]", "at": "2026-03-05T09:00:00+08:00"})
    bad.append({"record_id": "k2", "kind": "\x1b[2J", "at": "2026-03-05T09:00:00+08:00"})
    path = folder / "[red]hostile[bold].jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in bad))
    out = hallwatch(hostile, "ingest", str(path), "--quiet")
    assert out.returncode == 1, out.stderr[-3000:]
    # control characters in a case_id are refused without echoing the value
    assert_shown_literally(out, [*MARKUP, EMOJI, "[red]hostile[bold]"])
    assert "must not be blank nor hold control characters" in out.stdout
    assert f"{len(bad)} records refused" in out.stdout
    # and with the progress bar, which names the file too
    again = hallwatch(hostile, "ingest", str(path))
    assert again.returncode == 1 and "Traceback" not in again.stderr, again.stderr[-3000:]


@pytest.mark.parametrize(
    "month",
    ["0000-01", "9999-12", "1999-12", "2101-01", "2026-13", "２０２６-０３", "[/]", "\x1b[2J"],
)
def test_rank_month_outside_the_sane_range_is_a_usage_error(hostile: Path, month: str) -> None:
    out = hallwatch(hostile, "rank", "--month", month)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "--month" in out.stderr
    assert "\x1b" not in out.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("cases", "--as-of", "0001-01-01"),
        ("cases", "--as-of", "9999-12-31"),
        ("alerts", "--as-of", "9999-12-31T23:59:59-14:00"),
        ("alerts", "--as-of", "1900-01-01T00:00:00"),
        ("case", "EV0", "--as-of", "9999-12-31"),
        ("complaint", "TS-EV0", "--as-of", "0001-01-01"),
        ("cases", "--as-of", "\x1b[2Jsoon"),
    ],
)
def test_as_of_outside_the_sane_range_is_a_usage_error(
    hostile: Path, args: tuple[str, ...]
) -> None:
    out = hallwatch(hostile, *args)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "--as-of" in out.stderr
    assert "\x1b" not in out.stderr


def test_reject_files_are_owner_only_and_redacted_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert hallwatch(data, "catalog", "load", "sample").returncode == 0
    secret_id, code, name = "440101199001019999", "987654", "欧阳娜娜"
    lines = [
        orjson.dumps(submitted("PII1", "2026-03-02 09:00", item_code="NOPE-1",
                               applicant_id=secret_id, applicant_name=name)),
        orjson.dumps(rec("accepted", "2026-03-03 09:00", case_id="NOPE", receipt_no="SL-X",
                         query_code=code)),
        b'{"kind":"accepted","case_id":"X","query_code":"' + code.encode() + b'","at":',
        b'{"applicant_id":"' + secret_id.encode() + b'","town":"\xff"}',
    ]  # fmt: skip
    path = tmp_path / "pii.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = hallwatch(data, "ingest", str(path), "--quiet", umask=0)
    assert out.returncode == 1 and "4 records refused" in out.stdout, out.stdout + out.stderr
    folder = data / "rejected"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    (kept,) = folder.glob("pii-*.jsonl")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    raw = kept.read_bytes()
    for secret in (secret_id, code, name, secret_id[:12]):
        assert secret.encode() not in raw, secret
    entries = [orjson.loads(x) for x in raw.splitlines()]
    assert len(entries) == 4 and all(e["reason"] for e in entries)
    assert orjson.loads(entries[0]["record"])["applicant_name"] == "欧***"
    assert "record_base64" in entries[3]  # still not UTF-8, still without the id
    assert secret_id.encode() not in out.stdout.encode() + out.stderr.encode()

    explicit = tmp_path / "new-folder" / "refused.jsonl"
    out = hallwatch(data, "ingest", str(path), "--quiet", "--rejects", str(explicit), umask=0)
    assert out.returncode == 1
    assert stat.S_IMODE(explicit.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(explicit.stat().st_mode) == 0o600
