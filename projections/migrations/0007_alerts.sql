-- 预警/超时 alerts and 违规 violations: one row per AlertRaised or
-- ViolationFlagged event, alert_id = the event id. kind is the CONTRACTS §3 flag
-- name, category 'alert' or 'violation'; raised_at is the event's time (for an
-- alert, the moment its deadline passed). A re-delivered event has the same
-- alert_id, kind, subject and version, hence the same sorting key:
-- copies collapse; read with FINAL or uniqExact(alert_id).
-- town is the case's town for case streams and '' for complaints and orders.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id    String,
    kind        String,
    category    String,
    stream_kind String,
    stream_id   String,
    subject     String,
    step        String,
    department  String,
    town        String,
    item_code   String,
    deadline    Nullable(Date),
    detail      String,
    raised_at   DateTime('Asia/Shanghai'),
    recorded_at DateTime('Asia/Shanghai'),
    version     UInt32
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (kind, subject, alert_id);
