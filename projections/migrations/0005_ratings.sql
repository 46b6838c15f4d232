-- 好差评: one row per rated case (a case is rated once), with the answer to a
-- bad review (差评整改). version is the case stream's version.
CREATE TABLE IF NOT EXISTS ratings
(
    case_id          String,
    department       String,
    item_code        String,
    town             String,
    level            UInt8,
    bad              UInt8,
    rated_at         DateTime('Asia/Shanghai'),
    answer_due_date  Nullable(Date),
    answered_at      Nullable(DateTime('Asia/Shanghai')),
    answered_on_time Nullable(UInt8),
    version          UInt32,
    last_event_id    String
)
ENGINE = ReplacingMergeTree(version)
ORDER BY case_id;
