-- Trading signals. Probabilities are model outputs (doubles), not money.
CREATE TABLE signals (
    signal_id        TEXT    PRIMARY KEY NOT NULL,
    symbol           TEXT    NOT NULL,
    bar_open_time_ms INTEGER NOT NULL,
    side             TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    probability_up   REAL    NOT NULL CHECK (probability_up BETWEEN 0 AND 1),
    confidence       REAL    NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    strategy         TEXT    NOT NULL,
    votes            TEXT    NOT NULL CHECK (json_valid(votes)),
    created_ms       INTEGER NOT NULL
) STRICT;
CREATE INDEX signals_created ON signals (created_ms);
CREATE INDEX signals_symbol_created ON signals (symbol, created_ms);

-- Portfolio equity over time, one snapshot per instant. Decimals as canonical strings.
CREATE TABLE equity_snapshots (
    at_ms          INTEGER PRIMARY KEY NOT NULL,
    equity         TEXT    NOT NULL,
    cash           TEXT    NOT NULL,
    unrealized_pnl TEXT    NOT NULL,
    realized_pnl   TEXT    NOT NULL
) STRICT;
