-- 督办单: one row per supervision order, its state after its latest event
-- (version = the order stream's version).
CREATE TABLE IF NOT EXISTS supervision_orders
(
    order_id         String,
    case_id          String,
    department       String,
    inspector        String,
    note             String,
    status           String,
    due_days         UInt16,
    ordered_at       DateTime('Asia/Shanghai'),
    due_date         Date,
    answered_at      Nullable(DateTime('Asia/Shanghai')),
    answered_on_time Nullable(UInt8),
    alerts           UInt16,
    version          UInt32,
    last_event_id    String,
    updated_at       DateTime('Asia/Shanghai')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY order_id;
