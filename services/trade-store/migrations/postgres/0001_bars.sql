-- Closed OHLCV bars, one row per (symbol, interval, open time).
-- Prices and volume are NUMERIC: exact decimals that keep the scale they were written with.
-- Schema-relative on purpose (no `public.`): the connection's search_path picks the schema.
-- The store turns this table into a TimescaleDB hypertable at start when the extension is
-- available (see src/store/timescale.rs); the primary key doubles as the range-query index.
-- Symbols and intervals are ASCII names: the "C" collation compares them bytewise, which keeps
-- the key index cheap to maintain and to search whatever the database's default collation.
CREATE TABLE bars (
    symbol       TEXT    COLLATE "C" NOT NULL,
    interval     TEXT    COLLATE "C" NOT NULL,
    open_time_ms BIGINT  NOT NULL,
    open         NUMERIC NOT NULL,
    high         NUMERIC NOT NULL,
    low          NUMERIC NOT NULL,
    close        NUMERIC NOT NULL,
    volume       NUMERIC NOT NULL,
    PRIMARY KEY (symbol, interval, open_time_ms),
    CONSTRAINT bars_ohlc CHECK (
        low > 0 AND low <= open AND low <= close AND high >= open AND high >= close
    ),
    CONSTRAINT bars_volume CHECK (volume >= 0)
);
