"""Service catalogue (事项目录): CSV contract, row refusals, versions, serialisation."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.catalogue import (
    CATALOGUE_COLUMNS,
    Catalogue,
    CatalogueError,
    Category,
    ItemVersion,
    Step,
    load_catalogue,
    parse_catalogue,
    parse_catalogue_text,
    sample_catalogue_path,
)

HEADER = ",".join(CATALOGUE_COLUMNS)
GOOD_A = (
    "SCJG-002,食品经营许可,市场监管局,licence,20,10,"
    "审查:3;现场核查:4;决定:2;制证:1,3,false,false,10,2025-01-01"
)
GOOD_B = (
    "GA-002,居民身份证换领,公安局,public_service,60,20,审核:3;制证:15,2,false,false,0,2025-01-01"
)
CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def row(**overrides: str) -> str:
    """A valid row (ZJ-001) with some cells replaced, quoted as the csv module would."""
    cells = {
        "item_code": "ZJ-001",
        "item_name": "建筑工程施工许可证核发",
        "department": "住建局",
        "category": "licence",
        "statutory_days": "20",
        "promised_days": "10",
        "steps": "审查:4;审核:3;决定:2",
        "online_depth": "2",
        "fully_online": "false",
        "suspendable": "true",
        "extension_days": "10",
        "valid_from": "2025-01-01",
    }
    cells.update(overrides)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([cells[c] for c in CATALOGUE_COLUMNS])
    return out.getvalue().removesuffix("\n")


def csv_text(*lines: str, header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


# --- the shipped sample -----------------------------------------------------


def test_sample_catalogue_loads_without_refusals() -> None:
    parsed = parse_catalogue(sample_catalogue_path())
    assert parsed.refusals == ()
    assert parsed.ok
    catalogue = Catalogue(parsed.versions)
    assert len(catalogue) >= 50


def test_sample_catalogue_covers_twelve_departments_and_all_categories() -> None:
    catalogue = load_catalogue(sample_catalogue_path())
    assert len(catalogue.departments()) >= 12
    assert {v.category for v in catalogue.all_versions()} == set(Category)


def test_sample_catalogue_has_reformed_items_with_shorter_promised_limit() -> None:
    catalogue = load_catalogue(sample_catalogue_path())
    reformed = [c for c in catalogue.codes() if len(catalogue.versions(c)) > 1]
    assert len(reformed) >= 2
    for code in reformed:
        old, new = catalogue.versions(code)[:2]
        assert new.valid_from.year == 2026
        assert new.promised_days < old.promised_days


def test_sample_catalogue_mixes_online_depth_and_flags() -> None:
    versions = load_catalogue(sample_catalogue_path()).all_versions()
    depths = [v.online_depth for v in versions]
    assert set(depths) == {1, 2, 3}
    assert depths.count(1) < depths.count(2) and depths.count(1) < depths.count(3)
    assert any(v.fully_online for v in versions)
    assert any(v.suspendable for v in versions)
    assert {v.extension_days for v in versions} >= {0, 10}


def test_sample_catalogue_path_points_into_the_package() -> None:
    path = sample_catalogue_path()
    assert path.is_file()
    assert path.parts[-3:] == ("domain", "data", "catalogue.csv")


# --- row rules ----------------------------------------------------------------

BAD_ROWS: list[tuple[str, str, str, tuple[str, ...]]] = [
    # (test id, bad row, column named, other fragments the reason must contain)
    ("empty item_code", row(item_code=""), "item_code", ("empty",)),
    ("blank item_name", row(item_name="   "), "item_name", ("empty",)),
    ("empty department", row(department=""), "department", ()),
    ("unknown category", row(category="permit"), "category", ("'permit'",)),
    ("chinese category", row(category="行政许可"), "category", ("'licence'",)),
    ("statutory not int", row(statutory_days="abc"), "statutory_days", ("'abc'",)),
    ("promised zero", row(promised_days="0", steps="审查:1"), "promised_days", ("'0'",)),
    ("promised decimal", row(promised_days="1.5"), "promised_days", ("'1.5'",)),
    ("statutory < promised", row(statutory_days="5"), "statutory_days", ("5", "10")),
    ("steps empty", row(steps=""), "steps", ("empty",)),
    ("step without days", row(steps="审查"), "steps", ("'审查'",)),
    ("step zero days", row(steps="审查:0"), "steps", ("0",)),
    ("step days not int", row(steps="审查:x"), "steps", ("'x'",)),
    ("step empty name", row(steps=":3"), "steps", ("':3'",)),
    ("step name repeated", row(steps="审查:3;审查:2"), "steps", ("'审查'",)),
    ("steps exceed promised", row(steps="审查:8;决定:5"), "steps", ("13", "10")),
    ("steps full-width", row(steps="审查：3；决定：2"), "steps", ("full-width",)),
    ("steps trailing separator", row(steps="审查:3;"), "steps", ("empty step",)),
    ("online_depth zero", row(online_depth="0"), "online_depth", ("0",)),
    ("online_depth four", row(online_depth="4"), "online_depth", ("4",)),
    ("online_depth word", row(online_depth="high"), "online_depth", ("'high'",)),
    ("fully_online yes", row(fully_online="yes"), "fully_online", ("'yes'",)),
    ("fully_online capitalised", row(fully_online="True"), "fully_online", ("'True'",)),
    ("suspendable digit", row(suspendable="1"), "suspendable", ("'1'",)),
    ("extension negative", row(extension_days="-1"), "extension_days", ("'-1'",)),
    ("extension word", row(extension_days="ten"), "extension_days", ("'ten'",)),
    ("valid_from slashes", row(valid_from="2025/01/01"), "valid_from", ("'2025/01/01'",)),
    ("valid_from compact", row(valid_from="20250101"), "valid_from", ("'20250101'",)),
    ("valid_from impossible", row(valid_from="2025-02-30"), "valid_from", ("'2025-02-30'",)),
    ("short row", row().rsplit(",", 2)[0], "extension_days", ("missing", "valid_from")),
]


@pytest.mark.parametrize(
    ("bad", "column", "fragments"),
    [pytest.param(b, c, f, id=i) for i, b, c, f in BAD_ROWS],
)
def test_bad_row_is_refused_with_line_and_column_while_good_rows_load(
    bad: str, column: str, fragments: tuple[str, ...]
) -> None:
    parsed = parse_catalogue_text(csv_text(GOOD_A, bad, GOOD_B))
    assert [v.item_code for v in parsed.versions] == ["SCJG-002", "GA-002"]
    assert len(parsed.refusals) == 1
    refusal = parsed.refusals[0]
    assert refusal.line == 3
    assert refusal.raw == bad
    assert column in refusal.reason
    for fragment in fragments:
        assert fragment in refusal.reason


def test_row_with_several_problems_lists_each_column() -> None:
    bad = row(category="x", online_depth="9", valid_from="soon")
    (refusal,) = parse_catalogue_text(csv_text(bad)).refusals
    for column in ("category", "online_depth", "valid_from"):
        assert column in refusal.reason


def test_unquoted_comma_shifting_cells_is_refused() -> None:
    bad = row().replace("建筑工程施工许可证核发", "建筑工程,施工许可证核发")
    (refusal,) = parse_catalogue_text(csv_text(GOOD_A, bad)).refusals
    assert refusal.line == 3
    assert "13 cells" in refusal.reason


def test_same_item_and_valid_from_twice_refuses_the_later_row() -> None:
    again = row(item_name="建筑工程施工许可（重复）")
    parsed = parse_catalogue_text(csv_text(row(), GOOD_A, again))
    assert [v.item_name for v in parsed.versions] == ["建筑工程施工许可证核发", "食品经营许可"]
    (refusal,) = parsed.refusals
    assert refusal.line == 4
    assert "'ZJ-001'" in refusal.reason and "2025-01-01" in refusal.reason
    assert "line 2" in refusal.reason


def test_duplicate_of_a_refused_row_is_not_a_duplicate() -> None:
    parsed = parse_catalogue_text(csv_text(row(online_depth="7"), row()))
    assert [r.line for r in parsed.refusals] == [2]
    assert [v.item_code for v in parsed.versions] == ["ZJ-001"]


def test_later_valid_from_is_a_new_version() -> None:
    reform = row(promised_days="7", steps="审查:3;审核:2;决定:1", valid_from="2026-03-01")
    parsed = parse_catalogue_text(csv_text(row(), reform))
    assert parsed.refusals == ()
    catalogue = Catalogue(parsed.versions)
    assert len(catalogue) == 1
    assert [v.promised_days for v in catalogue.versions("ZJ-001")] == [10, 7]


def test_line_numbers_count_file_lines_across_blank_lines_and_multiline_cells() -> None:
    multiline = row(item_name="施工许可\n第二行")  # quoted cell spanning lines 3-4
    text = csv_text(GOOD_A, multiline, "", GOOD_B, row(category="nope"))
    parsed = parse_catalogue_text(text)
    assert [r.line for r in parsed.refusals] == [3, 7]
    assert "item_name" in parsed.refusals[0].reason
    assert "\n" in parsed.refusals[0].raw
    assert [v.item_code for v in parsed.versions] == ["SCJG-002", "GA-002"]


def test_crlf_line_endings_are_read() -> None:
    text = csv_text(GOOD_A, row(online_depth="5"), GOOD_B).replace("\n", "\r\n")
    parsed = parse_catalogue_text(text)
    assert len(parsed.versions) == 2
    assert [(r.line, r.raw) for r in parsed.refusals] == [(3, row(online_depth="5"))]


def test_cells_and_header_are_stripped_of_surrounding_whitespace() -> None:
    header = ", ".join(CATALOGUE_COLUMNS)
    padded = ", ".join(f" {c} " for c in next(csv.reader([GOOD_A])))
    parsed = parse_catalogue_text(csv_text(padded, header=header))
    assert parsed.refusals == ()
    (v,) = parsed.versions
    assert v.item_code == "SCJG-002"
    assert v.step_names == ("审查", "现场核查", "决定", "制证")
    assert v.valid_from == date(2025, 1, 1)


def test_extra_columns_are_ignored_and_column_order_is_free() -> None:
    columns = ["remark", *reversed(CATALOGUE_COLUMNS), "source_system"]
    values = dict(zip(CATALOGUE_COLUMNS, next(csv.reader([GOOD_A])), strict=True))
    values |= {"remark": "2025年目录", "source_system": "省事项库"}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerow(values)
    parsed = parse_catalogue_text(out.getvalue())
    assert parsed.refusals == ()
    assert parsed.versions == parse_catalogue_text(csv_text(GOOD_A)).versions


def test_blank_lines_and_trailing_empty_cells_are_tolerated() -> None:
    parsed = parse_catalogue_text(csv_text("", GOOD_A + ",,", ",,,", GOOD_B))
    assert parsed.refusals == ()
    assert len(parsed.versions) == 2


def test_parsed_values_are_typed() -> None:
    (v,) = parse_catalogue_text(csv_text(row())).versions
    assert v.category is Category.LICENCE
    assert (v.statutory_days, v.promised_days, v.extension_days) == (20, 10, 10)
    assert v.steps == (Step("审查", 4), Step("审核", 3), Step("决定", 2))
    assert (v.online_depth, v.fully_online, v.suspendable) == (2, False, True)


# --- whole-file problems ---------------------------------------------------------


@pytest.mark.parametrize("missing", ["item_code", "steps", "valid_from"])
def test_header_missing_a_column_raises_catalogue_error_naming_it(
    tmp_path: Path, missing: str
) -> None:
    path = tmp_path / "目录.csv"
    header = ",".join(c for c in CATALOGUE_COLUMNS if c != missing)
    path.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(path)
    assert missing in str(err.value)
    assert str(path) in str(err.value)


def test_header_missing_several_columns_names_all() -> None:
    with pytest.raises(CatalogueError, match=r"online_depth, fully_online") as err:
        parse_catalogue_text(
            HEADER.replace(",online_depth,fully_online", "") + "\n", name="upload.csv"
        )
    assert "upload.csv" in str(err.value)


def test_missing_file_raises_catalogue_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        parse_catalogue(tmp_path / "absent.csv")


def test_non_utf8_file_raises_catalogue_error_with_line(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes(csv_text(GOOD_A).encode("gbk"))
    with pytest.raises(CatalogueError, match=r"not UTF-8.*line 2") as err:
        parse_catalogue(str(path))
    assert "gbk.csv" in str(err.value)


def test_empty_file_raises_catalogue_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(CatalogueError, match="no header"):
        parse_catalogue(path)


def test_utf8_bom_is_handled(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(csv_text(GOOD_A).encode("utf-8-sig"))
    assert len(parse_catalogue(path).versions) == 1
    assert len(parse_catalogue_text("\ufeff" + csv_text(GOOD_A)).versions) == 1
    with path.open(encoding="utf-8", newline="") as stream:  # BOM left in by the reader
        assert len(parse_catalogue(stream).versions) == 1


def test_load_catalogue_is_all_or_nothing() -> None:
    with pytest.raises(CatalogueError, match="line 3"):
        load_catalogue(io.StringIO(csv_text(GOOD_A, row(category="x"))), name="x.csv")


# --- the versioned index -------------------------------------------------------------


def _version(code: str, start: date, promised: int = 10, dept: str = "住建局") -> ItemVersion:
    return ItemVersion(
        item_code=code,
        item_name="建筑工程施工许可证核发",
        department=dept,
        category="licence",
        statutory_days=20,
        promised_days=promised,
        steps=(Step("审查", 2), Step("决定", 1)),
        online_depth=2,
        fully_online=False,
        suspendable=True,
        extension_days=10,
        valid_from=start,
    )


def test_version_on_picks_the_version_in_force() -> None:
    v1 = _version("ZJ-001", date(2025, 1, 1), promised=10)
    v2 = _version("ZJ-001", date(2026, 3, 1), promised=5)
    catalogue = Catalogue([v2, v1])  # insertion order does not matter
    assert catalogue.version_on("ZJ-001", date(2024, 12, 31)) is None
    assert catalogue.version_on("ZJ-001", date(2025, 1, 1)) == v1
    assert catalogue.version_on("ZJ-001", date(2026, 2, 28)) == v1
    assert catalogue.version_on("ZJ-001", date(2026, 3, 1)) == v2
    assert catalogue.version_on("ZJ-001", date(2030, 1, 1)) == v2
    assert catalogue.version_on("ZJ-001", datetime(2026, 3, 1, 9, 30)) == v2
    assert catalogue.version_on("NOPE-001", date(2026, 3, 1)) is None


def test_latest_versions_and_membership() -> None:
    v1 = _version("ZJ-001", date(2025, 1, 1))
    v2 = _version("ZJ-001", date(2026, 3, 1), promised=5)
    w = _version("MZ-003", date(2025, 1, 1), dept="民政局")
    catalogue = Catalogue([v2, w, v1])
    assert catalogue.latest("ZJ-001") == v2
    assert catalogue.latest("NOPE") is None
    assert catalogue.versions("ZJ-001") == (v1, v2)
    assert catalogue.versions("NOPE") == ()
    assert "ZJ-001" in catalogue and "NOPE" not in catalogue and 3 not in catalogue
    assert len(catalogue) == 2
    assert catalogue.codes() == ["MZ-003", "ZJ-001"]
    assert catalogue.departments() == sorted(["住建局", "民政局"])
    assert catalogue.all_versions() == (w, v1, v2)


def test_adding_the_same_version_twice_is_a_noop_but_a_conflict_raises() -> None:
    v1 = _version("ZJ-001", date(2025, 1, 1))
    catalogue = Catalogue([v1, v1])
    assert catalogue.versions("ZJ-001") == (v1,)
    with pytest.raises(ValueError, match="ZJ-001"):
        catalogue.add(_version("ZJ-001", date(2025, 1, 1), promised=8))


def test_step_lookup_by_name() -> None:
    v = _version("ZJ-001", date(2025, 1, 1))
    assert v.step("审查") == Step("审查", 2)
    assert v.step("制证") is None
    assert v.step_names == ("审查", "决定")
    assert v.steps_days == 3


def test_category_has_chinese_names() -> None:
    assert [c.zh for c in Category] == ["行政许可", "非行政许可审批", "公共服务", "社会事务服务"]
    assert _version("ZJ-001", date(2025, 1, 1)).category_zh == "行政许可"


# --- ItemVersion invariants and serialisation -------------------------------------------


def test_item_version_refuses_to_break_the_contract_rules() -> None:
    good = _version("ZJ-001", date(2025, 1, 1)).to_dict()
    for key, value, column in [
        ("promised_days", 30, "statutory_days"),
        ("steps", [["审查", 9], ["决定", 9]], "steps"),
        ("steps", [], "steps"),
        ("category", "permit", "category"),
        ("online_depth", 4, "online_depth"),
        ("fully_online", "true", "fully_online"),
        ("extension_days", True, "extension_days"),
        ("valid_from", "2025-13-01", "valid_from"),
        ("item_code", " ZJ-001", "item_code"),
    ]:
        with pytest.raises(ValueError, match=column):
            ItemVersion.from_dict(good | {key: value})


def test_from_dict_names_missing_keys_and_ignores_unknown_ones() -> None:
    d = _version("ZJ-001", date(2025, 1, 1)).to_dict()
    assert ItemVersion.from_dict(d | {"owner_code": "1144"}).to_dict() == d
    with pytest.raises(ValueError, match="steps"):
        ItemVersion.from_dict({k: v for k, v in d.items() if k != "steps"})


def test_to_dict_is_json_friendly() -> None:
    d = _version("ZJ-001", date(2025, 1, 1)).to_dict()
    assert list(d) == list(CATALOGUE_COLUMNS)
    assert d["steps"] == [["审查", 2], ["决定", 1]]
    assert d["valid_from"] == "2025-01-01"
    assert type(d["category"]) is str
    assert json.loads(json.dumps(d, ensure_ascii=False)) == d


_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
        st.sampled_from("ABCXYZ-_0123456789 ,\"'()（）·"),
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: s == s.strip() and s != "")
_STEP_NAMES = _TEXT.filter(lambda s: not re.search("[:;]", s))


@st.composite
def item_versions(draw: st.DrawFn) -> ItemVersion:
    names = draw(st.lists(_STEP_NAMES, min_size=1, max_size=6, unique=True))
    steps = tuple(Step(n, draw(st.integers(1, 15))) for n in names)
    promised = sum(s.days for s in steps) + draw(st.integers(0, 10))
    return ItemVersion(
        item_code=draw(_TEXT),
        item_name=draw(_TEXT),
        department=draw(_TEXT),
        category=draw(st.sampled_from(list(Category))),
        statutory_days=promised + draw(st.integers(0, 40)),
        promised_days=promised,
        steps=steps,
        online_depth=draw(st.sampled_from([1, 2, 3])),
        fully_online=draw(st.booleans()),
        suspendable=draw(st.booleans()),
        extension_days=draw(st.integers(0, 30)),
        valid_from=draw(st.dates(date(2000, 1, 1), date(2099, 12, 31))),
    )


@given(item_versions())
def test_to_dict_from_dict_round_trips(v: ItemVersion) -> None:
    d = v.to_dict()
    assert ItemVersion.from_dict(d) == v
    assert ItemVersion.from_dict(json.loads(json.dumps(d))) == v


@given(st.lists(item_versions(), max_size=5, unique_by=lambda v: v.key))
def test_versions_written_as_csv_parse_back_unchanged(versions: list[ItemVersion]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CATALOGUE_COLUMNS)
    writer.writerows(v.to_csv_row() for v in versions)
    parsed = parse_catalogue_text(out.getvalue())
    assert parsed.refusals == ()
    assert list(parsed.versions) == versions


# --- contract drift -----------------------------------------------------------------


def test_catalogue_columns_match_the_contract_header() -> None:
    text = CONTRACTS.read_text(encoding="utf-8")
    section = text.split("## 1. Service catalogue", 1)[1].split("\n## ", 1)[0]
    headers = re.findall(r"^`([a-z_,]+)`\s*$", section, flags=re.MULTILINE)
    assert headers, "no backticked header line under '## 1. Service catalogue'"
    assert headers[0] == ",".join(CATALOGUE_COLUMNS)
