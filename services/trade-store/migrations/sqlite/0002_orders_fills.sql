-- Orders: recorded before they are sent (status NEW), then updated with their later states.
-- Decimals are canonical decimal strings (TEXT), see 0001_bars.sql.
CREATE TABLE orders (
    client_order_id   TEXT    PRIMARY KEY NOT NULL,
    symbol            TEXT    NOT NULL,
    side              TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    order_type        TEXT    NOT NULL CHECK (order_type IN ('MARKET', 'LIMIT')),
    quantity          TEXT    NOT NULL,
    limit_price       TEXT,
    time_in_force     TEXT    CHECK (time_in_force IN ('GTC', 'IOC', 'FOK')),
    signal_id         TEXT,
    created_ms        INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    exchange_order_id TEXT,
    filled_quantity   TEXT    NOT NULL,
    average_price     TEXT,
    reject_reason     TEXT,
    updated_ms        INTEGER NOT NULL,
    CHECK ((order_type = 'LIMIT') = (limit_price IS NOT NULL AND time_in_force IS NOT NULL))
) STRICT;
CREATE INDEX orders_created ON orders (created_ms);
CREATE INDEX orders_symbol_created ON orders (symbol, created_ms);

-- Fills, idempotent by fill id. No foreign key to orders: a fill report may arrive before the
-- order's own record on another path, and losing a fill is worse than an orphan.
CREATE TABLE fills (
    fill_id          TEXT    PRIMARY KEY NOT NULL,
    client_order_id  TEXT    NOT NULL,
    symbol           TEXT    NOT NULL,
    side             TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price            TEXT    NOT NULL,
    quantity         TEXT    NOT NULL,
    fee              TEXT    NOT NULL,
    fee_asset        TEXT    NOT NULL,
    is_maker         INTEGER NOT NULL CHECK (is_maker IN (0, 1)),
    exchange_time_ms INTEGER NOT NULL,
    receive_time_ms  INTEGER NOT NULL
) STRICT;
CREATE INDEX fills_time ON fills (exchange_time_ms);
CREATE INDEX fills_symbol_time ON fills (symbol, exchange_time_ms);
CREATE INDEX fills_order ON fills (client_order_id);
