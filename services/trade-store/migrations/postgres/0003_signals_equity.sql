-- Trading signals. Probabilities are model outputs (doubles), not money.
CREATE TABLE signals (
    signal_id        TEXT             PRIMARY KEY,
    symbol           TEXT             NOT NULL,
    bar_open_time_ms BIGINT           NOT NULL,
    side             TEXT             NOT NULL CHECK (side IN ('BUY', 'SELL')),
    probability_up   DOUBLE PRECISION NOT NULL CHECK (probability_up BETWEEN 0 AND 1),
    confidence       DOUBLE PRECISION NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    strategy         TEXT             NOT NULL,
    votes            JSONB            NOT NULL,
    created_ms       BIGINT           NOT NULL
);
CREATE INDEX signals_created ON signals (created_ms);
CREATE INDEX signals_symbol_created ON signals (symbol, created_ms);

-- Portfolio equity over time, one snapshot per instant.
CREATE TABLE equity_snapshots (
    at_ms          BIGINT  PRIMARY KEY,
    equity         NUMERIC NOT NULL,
    cash           NUMERIC NOT NULL,
    unrealized_pnl NUMERIC NOT NULL,
    realized_pnl   NUMERIC NOT NULL
);
