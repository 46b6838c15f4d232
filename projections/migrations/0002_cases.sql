-- 办件 current state: one row per case, the state after its latest event.
-- ReplacingMergeTree(version): version is the case stream's version, so a
-- replayed or re-delivered event gives a row that loses to (or equals) the one
-- already there; read with FINAL or argMax(…, version) (see migrations.py).
-- Not partitioned (nor are the other read models): every part costs time each
-- time an embedded chdb reader restores the database, and monthly partitions
-- multiply the parts a batch spanning several months writes.
CREATE TABLE IF NOT EXISTS cases
(
    case_id            String,
    receipt_no         String,
    item_code          String,
    item_name          String,
    department         String,
    town               String,
    channel            String,
    applicant_kind     String,
    online_submission  UInt8,
    bundle_id          String,
    status             String,
    submitted_at       DateTime('Asia/Shanghai'),
    intake_due_date    Date,
    accepted_at        Nullable(DateTime('Asia/Shanghai')),
    clock_start        Nullable(Date),
    limit_days         UInt16,
    due_date           Nullable(Date),
    warn_date          Nullable(Date),
    legal_due_date     Nullable(Date),
    deemed_accepted    UInt8,
    corrections        UInt16,
    suspensions        UInt16,
    suspended          UInt8,
    extended_days      UInt16,
    steps_total        UInt16,
    steps_completed    UInt16,
    completed_steps    Array(String),
    concluded_at       Nullable(DateTime('Asia/Shanghai')),
    outcome            String,
    rejection_reason   String,
    on_time            Nullable(UInt8),
    late_days          Int32,
    handling_days      Nullable(Int32),
    concluded_online   Nullable(UInt8),
    delivered_at       Nullable(DateTime('Asia/Shanghai')),
    delivery_method    String,
    site_visits        Nullable(UInt16),
    rating             Nullable(UInt8),
    rated_at           Nullable(DateTime('Asia/Shanghai')),
    rating_answered_at Nullable(DateTime('Asia/Shanghai')),
    violations         UInt16,
    alerts             UInt16,
    complaints         UInt16,
    supervision_orders UInt16,
    version            UInt32,
    last_event_id      String,
    updated_at         DateTime('Asia/Shanghai')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY case_id;
