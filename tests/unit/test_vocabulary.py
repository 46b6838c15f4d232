"""The vocabulary is the one list of every domain word: the intake schema, the record
commands and the event schemas name exactly its words."""

from __future__ import annotations

from typing import Any

import pytest

from domain.intake import handled_kinds
from domain.records import RECORD_KINDS, schema
from domain.vocabulary import (
    ALERT_KINDS,
    ONLINE_CHANNELS,
    VIOLATION_KINDS,
    AlertKind,
    ApplicantKind,
    Card,
    Channel,
    Decision,
    DeliveryMethod,
    Outcome,
    Procedure,
    RecordKind,
    ViolationKind,
    Word,
    event_name,
    event_type,
    name_of_type,
)


def _enum_of(field: str) -> list[str]:
    """The values the intake schema allows for ``field`` (wherever a kind defines it)."""
    found: list[Any] = []
    top = schema()
    if field in top.get("$defs", {}):
        found.append(top["$defs"][field]["enum"])
    for entry in top["allOf"]:
        prop = entry["then"].get("properties", {}).get(field)
        if prop and "enum" in prop:
            found.append(prop["enum"])
    assert found, field
    assert all(f == found[0] for f in found), field
    return list(found[0])


@pytest.mark.parametrize(
    ("field", "word"),
    [
        ("channel", Channel),
        ("applicant_kind", ApplicantKind),
        ("decision", Decision),
        ("outcome", Outcome),
        ("procedure", Procedure),
        ("method", DeliveryMethod),
    ],
)
def test_the_intake_schema_allows_exactly_the_vocabulary_words(field: str, word: Any) -> None:
    assert _enum_of(field) == list(word.values())


def test_record_kinds_are_the_schema_kinds_and_each_has_a_command() -> None:
    assert RecordKind.values() == RECORD_KINDS
    assert handled_kinds() == frozenset(RecordKind.values())


def test_every_word_has_a_chinese_and_an_english_label() -> None:
    for word in Word.__subclasses__():
        for member in word:
            assert member.zh and member.en and member.label("zh") == member.zh, member
            assert member.label("en") == member.en and member == member.value


def test_alert_cards_and_online_channels() -> None:
    assert AlertKind.values() == ALERT_KINDS and ViolationKind.values() == VIOLATION_KINDS
    assert [k for k in AlertKind if k.card is Card.YELLOW] == [AlertKind.CASE_WARNING]
    assert {"web", "app", "kiosk"} == ONLINE_CHANNELS


def test_event_names_and_types() -> None:
    assert event_name("case", "CorrectionRequested") == "case.correction_requested"
    assert event_type("case.accepted") == "gov.hallwatch.case.accepted"
    assert name_of_type("gov.hallwatch.complaint.filed") == "complaint.filed"
    assert name_of_type("org.other.case.accepted") is None


def test_every_event_a_stream_records_has_a_label() -> None:
    from domain.model import AGGREGATES, HallAggregate
    from domain.vocabulary import EventName

    names = {
        v.NAME
        for agg in AGGREGATES
        for n, v in vars(agg).items()
        if isinstance(v, type)
        and issubclass(v, HallAggregate.Event)
        and n not in ("Event", "Created")
    }
    assert names == set(EventName.values())
