-- 审批环节: one row per (case, step), the step as its latest event left it.
-- version is the case stream's version of the event that last changed the row.
CREATE TABLE IF NOT EXISTS steps
(
    case_id       String,
    step          String,
    department    String,
    item_code     String,
    started_on    Date,
    due_date      Date,
    completed_on  Nullable(Date),
    decision      String,
    on_time       Nullable(UInt8),
    handler       String,
    version       UInt32,
    last_event_id String
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (case_id, step);
