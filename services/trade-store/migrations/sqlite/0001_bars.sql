-- Closed OHLCV bars, one row per (symbol, interval, open time).
-- Prices and volume are TEXT holding the canonical decimal string (rust_decimal's `Display`,
-- scale kept), never REAL: SQLite has no exact decimal type. STRICT rejects anything else.
-- WITHOUT ROWID clusters the rows by the primary key, which is the range-query order.
CREATE TABLE bars (
    symbol       TEXT    NOT NULL,
    interval     TEXT    NOT NULL,
    open_time_ms INTEGER NOT NULL,
    open         TEXT    NOT NULL,
    high         TEXT    NOT NULL,
    low          TEXT    NOT NULL,
    close        TEXT    NOT NULL,
    volume       TEXT    NOT NULL,
    PRIMARY KEY (symbol, interval, open_time_ms)
) STRICT, WITHOUT ROWID;
