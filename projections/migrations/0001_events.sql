-- Every stored event as published on Kafka (CONTRACTS §5), one row per event.
-- ReplacingMergeTree: a re-published or re-consumed event (same event_id, hence
-- the same stream_id and version) collapses into one row when parts merge; until
-- then read with FINAL or GROUP BY event_id (see projections/migrations.py).
-- Partitioned by the month it happened (Asia/Shanghai), as the KPIs are.
CREATE TABLE IF NOT EXISTS events
(
    event_id    String,
    stream_id   String,
    stream_kind String,
    version     UInt32,
    type        String,
    subject     String,
    department  String,
    item_code   String,
    occurred_at DateTime('Asia/Shanghai'),
    recorded_at DateTime('Asia/Shanghai'),
    data        String,
    chain_hash  String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (stream_id, version, event_id);
