-- Orders: recorded before they are sent (status NEW), then updated with their later states.
CREATE TABLE orders (
    client_order_id   TEXT    PRIMARY KEY,
    symbol            TEXT    NOT NULL,
    side              TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    order_type        TEXT    NOT NULL CHECK (order_type IN ('MARKET', 'LIMIT')),
    quantity          NUMERIC NOT NULL CHECK (quantity > 0),
    limit_price       NUMERIC CHECK (limit_price > 0),
    time_in_force     TEXT    CHECK (time_in_force IN ('GTC', 'IOC', 'FOK')),
    signal_id         TEXT,
    created_ms        BIGINT  NOT NULL,
    status            TEXT    NOT NULL,
    exchange_order_id TEXT,
    filled_quantity   NUMERIC NOT NULL CHECK (filled_quantity >= 0),
    average_price     NUMERIC CHECK (average_price > 0),
    reject_reason     TEXT,
    updated_ms        BIGINT  NOT NULL,
    CONSTRAINT orders_limit CHECK (
        (order_type = 'LIMIT') = (limit_price IS NOT NULL AND time_in_force IS NOT NULL)
    ),
    CONSTRAINT orders_filled CHECK (filled_quantity <= quantity)
);
CREATE INDEX orders_created ON orders (created_ms);
CREATE INDEX orders_symbol_created ON orders (symbol, created_ms);

-- Fills, idempotent by fill id. No foreign key to orders: a fill report may arrive before the
-- order's own record on another path, and losing a fill is worse than an orphan.
CREATE TABLE fills (
    fill_id          TEXT    PRIMARY KEY,
    client_order_id  TEXT    NOT NULL,
    symbol           TEXT    NOT NULL,
    side             TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price            NUMERIC NOT NULL CHECK (price > 0),
    quantity         NUMERIC NOT NULL CHECK (quantity > 0),
    fee              NUMERIC NOT NULL,
    fee_asset        TEXT    NOT NULL,
    is_maker         BOOLEAN NOT NULL,
    exchange_time_ms BIGINT  NOT NULL,
    receive_time_ms  BIGINT  NOT NULL
);
CREATE INDEX fills_time ON fills (exchange_time_ms);
CREATE INDEX fills_symbol_time ON fills (symbol, exchange_time_ms);
CREATE INDEX fills_order ON fills (client_order_id);
