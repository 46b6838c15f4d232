"""The intake-record JSON Schema (CONTRACTS.md section 2) and its compiled validator."""

from __future__ import annotations

import copy
import random
import re
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import pytest

from domain.records import (
    CASE_KINDS,
    COMPLAINT_KINDS,
    RECORD_KINDS,
    SUPERVISION_KINDS,
    fast_check,
    kind_validator,
    schema,
    validation_error,
    validator,
)

AT = "2026-03-02T09:15:00+08:00"


def _case(kind: str, **fields: Any) -> dict[str, Any]:
    return {"record_id": f"t-{kind}", "kind": kind, "at": AT, "case_id": "DG202603020001", **fields}


def _complaint(kind: str, **fields: Any) -> dict[str, Any]:
    return {"record_id": f"t-{kind}", "kind": kind, "at": AT, "complaint_id": "TS1", **fields}


def _order(kind: str, **fields: Any) -> dict[str, Any]:
    return {"record_id": f"t-{kind}", "kind": kind, "at": AT, "order_id": "DB1", **fields}


VALID: dict[str, dict[str, Any]] = {
    "submitted": _case(
        "submitted",
        item_code="SCJG-002",
        channel="web",
        applicant_kind="enterprise",
        applicant_name="东莞市华南电子科技有限公司",
        applicant_id="91441900123456789X",
        town="南城街道",
        bundle_id="YJS001",
        recorded_at="2026-03-02T09:16:00Z",
        source="dongguan-hall",
    ),
    "accepted": _case("accepted", receipt_no="SL2026030200001", query_code="123456"),
    "rejected": _case("rejected", reason="申请事项不属于本部门职权范围"),
    "correction_requested": _case("correction_requested", materials=["营业执照副本复印件"]),
    "correction_received": _case("correction_received"),
    "step_started": _case("step_started", step="审查", handler="陈伟"),
    "step_completed": _case(
        "step_completed", step="审查", handler="陈伟", decision="pass", opinion="同意"
    ),
    "suspended": _case(
        "suspended", procedure="expert_review", reason="需组织专家评审", expected_days=10
    ),
    "resumed": _case("resumed"),
    "extended": _case("extended", days=10, reason="情况复杂", approved_by="李明"),
    "concluded": _case("concluded", outcome="approved", online=True),
    "delivered": _case("delivered", method="electronic", site_visits=0),
    "rated": _case("rated", level=5, comment="很好"),
    "rating_answered": _case("rating_answered", reply="感谢评价"),
    "complaint_filed": _complaint(
        "complaint_filed", case_id="DG202603020001", channel="hotline", content="超时未办结"
    ),
    "complaint_accepted": _complaint("complaint_accepted"),
    "complaint_rejected": _complaint("complaint_rejected", reason="重复投诉"),
    "complaint_assigned": _complaint("complaint_assigned", department="市场监管局"),
    "complaint_replied": _complaint("complaint_replied", reply="已整改"),
    "complaint_closed": _complaint("complaint_closed", satisfied=True),
    "supervision_ordered": _order(
        "supervision_ordered", department="公安局", inspector="林晓燕", due_days=5, note="限期反馈"
    ),
    "supervision_answered": _order("supervision_answered", reply="已整改"),
}

_JSONSCHEMA = jsonschema.Draft202012Validator(schema())


def _variant(base: str, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    """A copy of the valid ``base`` example with fields dropped or changed."""
    record = copy.deepcopy(VALID[base])
    for key in drop:
        record.pop(key)
    record.update(changes)
    return record


def test_schema_is_valid_draft_2020_12() -> None:
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema())


def test_kind_groups_partition_the_kinds() -> None:
    assert len(RECORD_KINDS) == len(set(RECORD_KINDS)) == 22
    assert set(VALID) == set(RECORD_KINDS)
    assert set(RECORD_KINDS) == CASE_KINDS | COMPLAINT_KINDS | SUPERVISION_KINDS
    assert not CASE_KINDS & COMPLAINT_KINDS
    assert not (CASE_KINDS | COMPLAINT_KINDS) & SUPERVISION_KINDS
    assert {"complaint_filed", "complaint_closed"} <= COMPLAINT_KINDS
    assert {"supervision_ordered", "supervision_answered"} == SUPERVISION_KINDS


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_example_per_kind(kind: str) -> None:
    assert validation_error(VALID[kind]) is None
    validator()(VALID[kind])
    assert _JSONSCHEMA.is_valid(VALID[kind])


def _walk(node: Any, path: str) -> list[str]:
    """Paths of every `properties` entry lacking a description."""
    missing: list[str] = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            if not (isinstance(sub, dict) and sub.get("description")):
                missing.append(f"{path}.properties.{name}")
        for key, sub in node.items():
            missing.extend(_walk(sub, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            missing.extend(_walk(sub, f"{path}[{i}]"))
    return missing


def test_every_property_has_a_description() -> None:
    assert _walk(schema(), "$") == []


# Supervision-rule breaches are valid input: hallwatch records and flags them.
@pytest.mark.parametrize(
    "record",
    [
        _variant("rejected", drop=("reason",)),
        _variant("rejected", reason=""),
        _variant("concluded", outcome="denied"),
        _variant("concluded", outcome="denied", reason=""),
        _variant("complaint_rejected", drop=("reason",)),
        _variant("complaint_closed", drop=("satisfied",)),
        _variant("accepted", drop=("query_code",)),
        _variant("submitted", drop=("bundle_id", "recorded_at", "source")),
        _variant("complaint_filed", drop=("case_id",), department="公安局"),
        _variant("supervision_ordered", drop=("department",), case_id="DG1"),
        _variant("resumed", extra={"anything": "kept", "n": 2, "ok": True, "none": None}),
        _variant("delivered", site_visits=2, method="window"),
        _variant("resumed", at="2026-03-02T01:15Z"),
        _variant("resumed", at="2026-03-02T09:15:00.123456-05:30"),
    ],
    ids=lambda r: f"{r['kind']}",
)
def test_rule_breaches_and_optional_fields_still_validate(record: dict[str, Any]) -> None:
    assert validation_error(record) is None
    assert _JSONSCHEMA.is_valid(record)


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (_variant("submitted", drop=("item_code",)), "data.item_code"),
        (_variant("submitted", drop=("case_id",)), "data.case_id"),
        (_variant("complaint_assigned", drop=("complaint_id",)), "data.complaint_id"),
        (_variant("supervision_answered", drop=("order_id",)), "data.order_id"),
        (_variant("accepted", drop=("receipt_no",)), "data.receipt_no"),
        (_variant("suspended", drop=("reason",)), "data.reason"),
        (_variant("extended", drop=("approved_by",)), "data.approved_by"),
        (_variant("resumed", drop=("at",)), "data.at"),
        (_variant("resumed", drop=("record_id",)), "data.record_id"),
        (_variant("delivered", site_visits="1"), "data.site_visits"),
        (_variant("delivered", site_visits=True), "data.site_visits"),
        (_variant("delivered", site_visits=-1), "data.site_visits"),
        (_variant("rated", level=0), "data.level"),
        (_variant("rated", level=6), "data.level"),
        (_variant("rated", level=True), "data.level"),
        (_variant("rated", level=4.5), "data.level"),
        (_variant("supervision_ordered", due_days=True), "data.due_days"),
        (_variant("supervision_ordered", due_days=0), "data.due_days"),
        (_variant("suspended", expected_days=False), "data.expected_days"),
        (_variant("extended", days=0), "data.days"),
        (_variant("concluded", online="true"), "data.online"),
        (_variant("concluded", outcome="done"), "data.outcome"),
        (_variant("step_completed", decision="ok"), "data.decision"),
        (_variant("submitted", channel="fax"), "data.channel"),
        (_variant("submitted", applicant_kind="robot"), "data.applicant_kind"),
        (_variant("submitted", applicant_name="   "), "data.applicant_name"),
        (_variant("submitted", town="镇" * 201), "data.town"),
        (_variant("suspended", procedure="lottery"), "data.procedure"),
        (_variant("delivered", method="drone"), "data.method"),
        (_variant("correction_requested", materials=[]), "data.materials"),
        (_variant("correction_requested", materials=[""]), "data.materials[0]"),
        (_variant("correction_requested", materials="营业执照"), "data.materials"),
        (_variant("complaint_closed", satisfied="yes"), "data.satisfied"),
        (_variant("complaint_filed", content="投" * 20_000), "data.content"),
        (_variant("rating_answered", reply="x" * 10_001), "data.reply"),
        (_variant("resumed", note="x" * 20_000), "'note'"),
        (_variant("resumed", extra_field={"anything": [1, 2]}), "'extra_field'"),
        (_variant("step_started", step="s", handler="h", department=[[[]]]), "data.department"),
        (_variant("resumed", extra={"deep": [[1]]}), "data.extra.deep"),
        (_variant("resumed", extra={str(i): i for i in range(33)}), "data.extra"),
        (_variant("resumed", kind="reopened"), "data.kind"),
        (_variant("resumed", kind=None), "data.kind"),
        (_variant("resumed", at="2026-03-02T09:15:00"), "data.at"),
        (_variant("resumed", at="2026-03-02 09:15:00+08:00"), "data.at"),
        (_variant("resumed", at="2026-13-02T09:15:00+08:00"), "data.at"),
        (_variant("resumed", at=1772414100), "data.at"),
        (_variant("resumed", recorded_at="yesterday"), "data.recorded_at"),
        (_variant("resumed", record_id=""), "data.record_id"),
        (_variant("resumed", record_id="r" * 201), "data.record_id"),
        (_variant("resumed", source="s" * 201), "data.source"),
        (_variant("resumed", case_id=7), "data.case_id"),
    ],
    ids=lambda v: v if isinstance(v, str) else v["kind"],
)
def test_invalid_records_fail_naming_the_field(record: dict[str, Any], field: str) -> None:
    reason = validation_error(record)
    assert reason is not None
    assert re.search(re.escape(field) + r"(?![\w.\[])", reason), reason
    assert len(reason) <= 300
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        validator()(record)
    assert not _JSONSCHEMA.is_valid(record)


def test_messages_are_readable() -> None:
    assert validation_error(_variant("delivered", site_visits="1")) == (
        "data.site_visits must be integer"
    )
    assert validation_error(_variant("delivered", site_visits=True)) == (
        "data.site_visits must be integer"
    )
    assert validation_error(_variant("submitted", drop=("town",))) == (
        "data.town is required for kind submitted"
    )
    assert validation_error(_variant("resumed", at="2026-03-02T09:15:00")) == (
        "data.at must be an RFC 3339 date-time with offset, e.g. 2026-03-02T09:15:00+08:00"
    )
    assert validation_error(_variant("resumed", kind="reopened")) == (
        "data.kind must be a known record kind, not 'reopened'"
    )
    huge = validation_error(_variant("complaint_filed", content="投" * 20_000))
    assert huge == "data.content must be shorter than or equal to 10000 characters"


@pytest.mark.parametrize("kind", ["complaint_filed", "supervision_ordered"])
def test_case_or_department_is_required(kind: str) -> None:
    record = _variant(kind, drop=("case_id",) if "case_id" in VALID[kind] else ("department",))
    assert (
        validation_error(record) == f"data.case_id or data.department is required for kind {kind}"
    )
    assert not _JSONSCHEMA.is_valid(record)


@pytest.mark.parametrize("value", [None, [], "submitted", 3, {"kind": "resumed"}])
def test_non_records_fail(value: Any) -> None:
    assert validation_error(value) is not None


def test_trailing_newline_in_a_timestamp_fails() -> None:
    # fastjsonschema anchors `$` at the very end (\Z), so "…+08:00\n" is not a date-time.
    assert validation_error(_variant("resumed", at=AT + "\n")) is not None


def test_unicode_digits_are_not_digits() -> None:
    assert validation_error(_variant("resumed", at="２０２６-03-02T09:15:00+08:00")) is not None


# --------------------------------------------------------------------------- #
# The fast path: never laxer than fastjsonschema, and it does the valid records
# --------------------------------------------------------------------------- #


class _Str(str):
    """A str subclass: the fast path leaves it to fastjsonschema."""


_ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 5, 6, 1000, 1001, 3650, 3651, 1.0, 4.5, "", " ", "\u3000",
    "\x1c", "x", "x\n", "pass", "web", "fax", "person", "approved", "hearing", "window",
    "r" * 200, "r" * 201, "x" * 500, "x" * 501, "x" * 10_000, "x" * 10_001, AT, AT + "\n",
    "2026-03-02T09:15:00Z", "2026-03-02T09:15:00", "2026-02-30T24:00:00+08:00", [], [""],
    ["营业执照"], [" "], ["x"] * 101, [1], {}, {"a": 1}, _Str("x"), _Str(AT), _Str("web"),
]  # fmt: skip


def _mutations(kind: str, rng: random.Random) -> list[dict[str, Any]]:
    """The valid example with fields dropped, swapped for odd values, or added."""
    base = VALID[kind]
    keys = [*base, "recorded_at", "source", "bundle_id", "reason", "comment", "opinion"]
    keys += ["query_code", "department", "case_id", "satisfied", "note", "extra", "step"]
    out = []
    for key in keys:
        out.append({k: v for k, v in base.items() if k != key})
        for value in _ODD_VALUES:
            out.append({**base, key: value})
    for _ in range(300):
        record = dict(base)
        for key in rng.sample(keys, 3):
            if rng.random() < 0.3:
                record.pop(key, None)
            else:
                record[key] = rng.choice(_ODD_VALUES)
        out.append(record)
    out.append({**base, **{f"f{i}": i for i in range(100)}})
    return out


@pytest.mark.parametrize("kind", sorted(VALID))
def test_fast_check_is_never_laxer_than_the_schema(kind: str) -> None:
    fast = fast_check(kind)
    assert fast is not None, "every kind's rules compile to the fast path"
    assert fast(VALID[kind])
    narrowed = kind_validator(kind)
    accepted = 0
    for record in _mutations(kind, random.Random(kind)):
        if record.get("kind") != kind or not fast(record):
            continue
        accepted += 1
        narrowed(record)  # raises if the fast path let a breach through
        validator()(record)
        assert _JSONSCHEMA.is_valid(record), record
    assert accepted > 20  # it does say yes to plenty of valid variants


def test_isspace_matches_the_schema_non_blank_pattern() -> None:
    """The fast path reads the schema's \\S as ``not str.isspace()``: the same table."""
    non_space = re.compile(r"\S")
    for code in range(0x110000):
        c = chr(code)
        assert (non_space.search(c) is None) == c.isspace(), hex(code)


def test_fast_check_falls_back_for_unknown_keywords(monkeypatch: pytest.MonkeyPatch) -> None:
    import domain.records as records

    odd = copy.deepcopy(schema())
    (then,) = [e["then"] for e in odd["allOf"] if e["if"]["properties"]["kind"]["const"] == "rated"]
    then["properties"]["level"]["multipleOf"] = 2
    monkeypatch.setattr(records, "schema", lambda: odd)
    records.fast_check.cache_clear()
    records.kind_validator.cache_clear()
    try:
        assert records.fast_check("rated") is None
        assert records.fast_check("resumed") is not None
        assert records.validation_error(_variant("rated", level=3)) is not None  # the schema's say
    finally:
        records.fast_check.cache_clear()
        records.kind_validator.cache_clear()


# --------------------------------------------------------------------------- #
# Contract drift: CONTRACTS.md section 2 <-> the schema
# --------------------------------------------------------------------------- #

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def _contract_table() -> list[tuple[list[str], list[str]]]:
    """(kinds, field names) per row of the section-2 table of CONTRACTS.md.

    One row may name several kinds (``complaint_accepted / complaint_rejected``); its
    fields then belong to one or the other ("reason on rejection").
    """
    text = CONTRACTS.read_text(encoding="utf-8")
    section = text.split("## 2.", 1)[1].split("\n## ", 1)[0]
    rows: list[tuple[list[str], list[str]]] = []
    for line in section.splitlines():
        if not line.lstrip().startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[0] == "kind" or set(cells[0]) <= {"-", ":", " "}:
            continue
        fields_text = re.sub(r"\([^)]*\)", "", cells[1])
        fields: list[str] = []
        for chunk in fields_text.split(","):
            for alternative in chunk.split(" or "):
                match = re.match(r"\s*`?([a-z_]+)", alternative)
                if match:
                    fields.append(match.group(1))
        kinds = [k.strip() for k in cells[0].replace("`", "").split("/")]
        rows.append((kinds, fields))
    return rows


def _kind_properties(kind: str) -> set[str]:
    props = set(schema()["properties"])
    for entry in schema()["allOf"]:
        if entry["if"]["properties"]["kind"]["const"] == kind:
            props |= set(entry["then"].get("properties", {}))
    return props


def test_contract_kinds_match_schema() -> None:
    kinds = [kind for row_kinds, _ in _contract_table() for kind in row_kinds]
    assert len(kinds) == len(set(kinds))
    assert set(kinds) == set(RECORD_KINDS)


def test_contract_fields_are_schema_properties() -> None:
    table = {tuple(kinds): fields for kinds, fields in _contract_table()}
    assert table[("submitted",)][:2] == ["item_code", "channel"]
    assert table[("complaint_filed",)][:2] == ["case_id", "department"]
    assert table[("complaint_accepted", "complaint_rejected")] == ["reason"]
    missing: dict[str, list[str]] = {}
    for kinds, fields in table.items():
        known = set().union(*(_kind_properties(kind) for kind in kinds))
        if set(fields) - known:
            missing["/".join(kinds)] = sorted(set(fields) - known)
    assert missing == {}
