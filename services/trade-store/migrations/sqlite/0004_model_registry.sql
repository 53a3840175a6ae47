-- Trained models and, per symbol, the champion the AI engine serves.
CREATE TABLE model_registry (
    model_id     TEXT    PRIMARY KEY NOT NULL,
    symbol       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    artifact_uri TEXT    NOT NULL,
    metrics      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metrics)),
    created_ms   INTEGER NOT NULL,
    UNIQUE (symbol, kind, version),
    -- target of the champion pointer, so a champion always belongs to its symbol
    UNIQUE (model_id, symbol)
) STRICT;

CREATE TABLE model_champions (
    symbol      TEXT    PRIMARY KEY NOT NULL,
    model_id    TEXT    NOT NULL,
    promoted_ms INTEGER NOT NULL,
    FOREIGN KEY (model_id, symbol) REFERENCES model_registry (model_id, symbol)
) STRICT;
