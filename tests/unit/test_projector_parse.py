"""Reading CloudEvents for the projectors, and the projector's cheap paths: the WAL line
encoder, the paused collector and the short thread switch interval."""

from __future__ import annotations

import gc
import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from chdb.durable.wal import parse_segment  # imported here: loading chdb takes a second
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.clickhouse.wal import _LAST_WAL_LINE, _orjson_wal_line
from projections.projectors import BadEvent, parse_event
from projections.runner import SWITCH_INTERVAL, _cyclic_gc_paused, _quick_thread_handoffs

CST = timezone(timedelta(hours=8))


def cloudevent(**changes: Any) -> dict[str, Any]:
    """A CloudEvent as the relay publishes it (``streams/cloudevents.py``)."""
    ce: dict[str, Any] = {
        "specversion": "1.0",
        "id": "4f7c1a5e-0000-5000-8000-000000000001",
        "source": "hallwatch",
        "type": "gov.hallwatch.case.accepted",
        "subject": "DG2026030200001",
        "time": "2026-03-02T09:30:00+08:00",
        "datacontenttype": "application/json",
        "dataschema": "urn:hallwatch:schema:gov.hallwatch.case.accepted",
        "streamid": "0b5d2f9e-1111-5111-8111-000000000001",
        "streamkind": "case",
        "streamversion": 2,
        "notificationid": 17,
        "recordedtime": "2026-03-02T09:31:00+08:00",
        "storedtime": "2026-03-02T01:31:00.123456+00:00",
        "prevhash": "a" * 64,
        "chainhash": "b" * 64,
        "department": "公安局",
        "itemcode": "GA-001",
        "data": {"due_date": "2026-03-20", "receipt_no": "SL2026030200001", "town": "南城街道"},
    }
    ce.update(changes)
    return ce


def test_a_published_event_is_read_field_by_field() -> None:
    e = parse_event(orjson.dumps(cloudevent()))
    assert e.id == "4f7c1a5e-0000-5000-8000-000000000001"
    assert (e.name, e.type) == ("case.accepted", "gov.hallwatch.case.accepted")
    assert (e.stream_id, e.stream_kind, e.subject, e.version) == (
        "0b5d2f9e-1111-5111-8111-000000000001", "case", "DG2026030200001", 2,
    )  # fmt: skip
    assert e.time == datetime(2026, 3, 2, 9, 30, tzinfo=CST)
    assert e.recorded == datetime(2026, 3, 2, 9, 31, tzinfo=CST)
    assert (e.department, e.item_code, e.chain_hash) == ("公安局", "GA-001", "b" * 64)
    assert e.data == {"due_date": "2026-03-20", "receipt_no": "SL2026030200001", "town": "南城街道"}
    assert json.loads(e.data_json) == e.data


def test_the_data_text_is_the_published_text() -> None:
    """The events table keeps ``data`` as published: no re-encoding."""
    raw = orjson.dumps(cloudevent(data={"z": 1, "a": [1, "二"]}))
    assert parse_event(raw).data_json == '{"z":1,"a":[1,"二"]}'


def test_missing_optional_attributes_take_their_defaults() -> None:
    ce = cloudevent(subject=None, streamkind=None, recordedtime=None, chainhash=None, data=None)
    del ce["department"], ce["itemcode"]
    e = parse_event(orjson.dumps(ce))
    assert e.subject == e.stream_id and e.stream_kind == "case"
    assert e.recorded == e.time
    assert (e.department, e.item_code, e.chain_hash) == ("", "", "")
    assert (e.data, e.data_json) == ({}, "{}")


def test_a_version_sent_as_text_is_read_as_a_number() -> None:
    assert parse_event(orjson.dumps(cloudevent(streamversion="7"))).version == 7


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "unreadable"),
        (b"[1, 2]", "unreadable"),
        (b"\xff\xfe", "unreadable"),
        (orjson.dumps(cloudevent(type="com.example.other")), "not a hallwatch event type"),
        (orjson.dumps(cloudevent(id=17)), "unreadable"),
        (orjson.dumps(cloudevent(streamversion="two")), "unreadable"),
        (orjson.dumps(cloudevent(time="2026-03-02T09:30:00")), "no UTC offset"),
        (orjson.dumps(cloudevent(recordedtime="2026-03-02T09:30:00")), "no UTC offset"),
        (orjson.dumps(cloudevent(time="yesterday")), "unreadable"),
        (orjson.dumps(cloudevent(data=[1, 2])), "data is not an object"),
        (orjson.dumps(cloudevent(data="text")), "data is not an object"),
        (orjson.dumps({k: v for k, v in cloudevent().items() if k != "streamid"}), "unreadable"),
    ],
)
def test_a_message_that_is_not_a_hallwatch_event_is_refused_with_its_reason(
    value: bytes, reason: str
) -> None:
    with pytest.raises(BadEvent, match=reason):
        parse_event(value)


def test_any_offset_is_kept() -> None:
    e = parse_event(orjson.dumps(cloudevent(time="2026-03-02T01:30:00Z")))
    assert e.time == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    assert e.time == datetime(2026, 3, 2, 9, 30, tzinfo=CST)


# --------------------------------------------------------------------------- WAL lines


@settings(deadline=None)  # the first example loads chdb.durable's error classes
@given(st.text())
def test_a_wal_line_is_the_json_object_the_library_writes(sql: str) -> None:
    _LAST_WAL_LINE.clear()
    line = _orjson_wal_line(sql)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"sql": sql}
    assert parse_segment(line, "test") == [sql]


def test_the_same_statement_is_encoded_once() -> None:
    sql = "INSERT INTO t (a) FORMAT JSONCompactColumns " + '[["x"]]' * 1000
    first = _orjson_wal_line(sql)
    assert _orjson_wal_line(sql) is first
    assert _orjson_wal_line("SELECT 1") == b'{"sql":"SELECT 1"}\n'
    _LAST_WAL_LINE.clear()


def test_a_string_orjson_refuses_is_left_to_the_library_encoder() -> None:
    from chdb.durable import wal

    lone = "INSERT INTO t VALUES ('\ud800')"
    library = wal.encode_statement if wal.encode_statement is not _orjson_wal_line else None
    if library is None:
        from projections.clickhouse.wal import _LIBRARY_WAL_LINE

        library = _LIBRARY_WAL_LINE[0]
    with pytest.raises(UnicodeEncodeError):
        library(lone)
    with pytest.raises(UnicodeEncodeError):
        _orjson_wal_line(lone)


def test_a_statement_over_the_limit_is_refused() -> None:
    from chdb.durable.errors import LimitExceeded
    from chdb.durable.protocol import MAX_SQL_BYTES

    with pytest.raises(LimitExceeded, match="over the V1 limit"):
        _orjson_wal_line("x" * (MAX_SQL_BYTES + 1))


# --------------------------------------------------------------------------- interpreter settings


def test_the_collector_is_paused_while_a_batch_is_built_and_restored_after() -> None:
    assert gc.isenabled()
    with _cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with _cyclic_gc_paused():
            pass
        assert not gc.isenabled()  # a collector someone else turned off stays off
    finally:
        gc.enable()


def test_the_switch_interval_is_short_only_while_pipelined() -> None:
    before = sys.getswitchinterval()
    with _quick_thread_handoffs(True):
        assert sys.getswitchinterval() == pytest.approx(min(before, SWITCH_INTERVAL))
    assert sys.getswitchinterval() == before
    with _quick_thread_handoffs(False):
        assert sys.getswitchinterval() == before
