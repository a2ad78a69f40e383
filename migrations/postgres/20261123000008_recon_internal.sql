-- Internal reconciliation (docs/recon-internal.md): the order system's
-- business orders, compared by order number with payment_orders (fund system)
-- and journal_postings (accounting) of migration 002.
-- PostgreSQL: money is NUMERIC (the Money type); instants are TIMESTAMPTZ.

-- Business orders (业务订单): what the order system says a customer owes / paid.
-- status: created (下单未付), paid (已支付), closed (已关闭, never paid),
-- refunded (已支付后退款; the payment itself stays a payment).
CREATE TABLE business_orders (
    order_no    TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    currency    TEXT NOT NULL,
    amount      NUMERIC NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('created','paid','closed','refunded')),
    created_at  TIMESTAMPTZ NOT NULL,
    paid_at     TIMESTAMPTZ,
    -- A paid (or later refunded) order needs its payment time: it decides the business date.
    CHECK (status NOT IN ('paid','refunded') OR paid_at IS NOT NULL)
);
CREATE INDEX business_orders_by_paid ON business_orders (paid_at);
CREATE INDEX business_orders_by_created ON business_orders (created_at);
