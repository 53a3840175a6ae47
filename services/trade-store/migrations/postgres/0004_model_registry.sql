-- Trained models and, per symbol, the champion the AI engine serves.
CREATE TABLE model_registry (
    model_id     TEXT   PRIMARY KEY,
    symbol       TEXT   NOT NULL,
    kind         TEXT   NOT NULL,
    version      TEXT   NOT NULL,
    artifact_uri TEXT   NOT NULL,
    metrics      JSONB  NOT NULL DEFAULT '{}',
    created_ms   BIGINT NOT NULL,
    UNIQUE (symbol, kind, version),
    -- target of the champion pointer, so a champion always belongs to its symbol
    UNIQUE (model_id, symbol)
);

CREATE TABLE model_champions (
    symbol      TEXT   PRIMARY KEY,
    model_id    TEXT   NOT NULL,
    promoted_ms BIGINT NOT NULL,
    FOREIGN KEY (model_id, symbol) REFERENCES model_registry (model_id, symbol)
);
