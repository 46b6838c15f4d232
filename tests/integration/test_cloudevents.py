"""Every stored event kind as a CloudEvent: parseable by the SDK, valid against its schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_structured
from cloudevents.core.formats.json import JSONFormat

from domain import clock
from domain.application import Hallwatch
from domain.catalogue import parse_catalogue, sample_catalogue_path
from infra.samples import sample_records_path
from infra.settings import Settings
from infra.wiring import open_app
from streams.alerter import Alerter
from streams.cloudevents import CONTENT_TYPE, StreamInfo, event_id, stream_info, to_cloudevent
from streams.event_schemas import all_schemas, event_classes, shipped_schema


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hallwatch]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("ce"), secret_key=b"k" * 32)
    app = open_app(settings)
    app.load_catalogue(parse_catalogue(sample_catalogue_path()), "sample")
    lines = [x for x in sample_records_path().read_bytes().splitlines() if x.strip()]
    for i in range(0, len(lines), 500):
        app.ingest(lines[i : i + 500])
    # an alerter on a clock past every deadline adds the alert events
    alerter = Alerter(app, clock=lambda: datetime(2026, 12, 31, tzinfo=clock.SHANGHAI))
    alerter.start()
    alerter.tick()
    yield app
    app.close()


def messages(app: Hallwatch) -> list[tuple[Any, ...]]:
    infos: dict[Any, StreamInfo] = {}
    out = []
    for nid, sid, version, topic, state in app.stored_rows():
        if sid not in infos:
            infos[sid] = stream_info(topic, orjson.loads(state), sid)
        msg = to_cloudevent(
            notification_id=nid,
            stream_id=sid,
            version=version,
            topic=topic,
            state=state,
            info=infos[sid],
            source="dongguan-hall",
        )
        out.append((msg, sid, version, topic))
    return out


def test_shipped_schemas_match_the_event_classes() -> None:
    generated = all_schemas()
    assert len(generated) == len(event_classes())
    for ce_type, schema in generated.items():
        hint = f"{ce_type}: run python -m streams.event_schemas --write"
        assert shipped_schema(ce_type) == schema, hint


def test_every_event_kind_is_a_valid_cloudevent_with_valid_data(sample_store: Hallwatch) -> None:
    seen: set[str] = set()
    fmt = JSONFormat()
    for msg, sid, version, _topic in messages(sample_store):
        headers = dict(msg.headers)
        assert headers["content-type"] == CONTENT_TYPE.encode()
        event = from_structured(KafkaMessage(headers=headers, key=msg.key, value=msg.value), fmt)
        attrs = event.get_attributes()
        assert attrs["specversion"] == "1.0" and attrs["id"] == event_id(sid, version)
        assert attrs["streamversion"] == version and attrs["chainhash"]
        data = event.get_data()
        assert isinstance(data, dict)
        jsonschema.validate(
            data,
            shipped_schema(attrs["type"]),
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        seen.add(attrs["type"])
    case_types = {t for t in all_schemas() if t.startswith("gov.hallwatch.case.")}
    missing = case_types - seen - {"gov.hallwatch.case.complaint_linked"}
    assert not missing, f"sample has no {missing}"
    assert {"gov.hallwatch.complaint.filed", "gov.hallwatch.supervision.ordered"} <= seen


def test_case_events_carry_department_item_and_subject(sample_store: Hallwatch) -> None:
    for msg, _sid, _v, topic in messages(sample_store)[:200]:
        ev = orjson.loads(msg.value)
        if ".Case." in f".{topic.split(':')[1]}":
            assert ev["subject"].startswith("DG") and ev["department"] and ev["itemcode"]


def test_ids_are_stable_across_republication(sample_store: Hallwatch) -> None:
    first = [m[0].event_id for m in messages(sample_store)]
    assert first == [m[0].event_id for m in messages(sample_store)]
    assert len(set(first)) == len(first)


def test_schema_files_are_shipped_in_the_package() -> None:
    import streams

    assert len(list((Path(streams.__file__).parent / "schemas").glob("*.schema.json"))) == len(
        event_classes()
    )
