-- 投诉: one row per complaint, its state after its latest event (version = the
-- complaint stream's version).
CREATE TABLE IF NOT EXISTS complaints
(
    complaint_id     String,
    case_id          String,
    department       String,
    channel          String,
    status           String,
    assigned_to      String,
    filed_at         DateTime('Asia/Shanghai'),
    accept_due_date  Date,
    accepted_at      Nullable(DateTime('Asia/Shanghai')),
    accepted_on_time Nullable(UInt8),
    reply_due_date   Nullable(Date),
    replied_at       Nullable(DateTime('Asia/Shanghai')),
    replied_on_time  Nullable(UInt8),
    closed_at        Nullable(DateTime('Asia/Shanghai')),
    satisfied        Nullable(UInt8),
    violations       UInt16,
    alerts           UInt16,
    version          UInt32,
    last_event_id    String,
    updated_at       DateTime('Asia/Shanghai')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY complaint_id;
