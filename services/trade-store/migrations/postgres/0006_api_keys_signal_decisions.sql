-- API keys. Only the SHA-256 of a key's plaintext is kept (lowercase hex); the plaintext is
-- shown to its owner once by whoever generated it and never reaches the database. A presented
-- key is hashed and looked up by this column, hence UNIQUE (and its index). Revoked keys stay,
-- with the time they were revoked, so the audit log's key ids keep resolving.
CREATE TABLE api_keys (
    key_id     TEXT   PRIMARY KEY,
    name       TEXT   NOT NULL CHECK (btrim(name) <> ''),
    role       TEXT   NOT NULL CHECK (role IN ('viewer', 'trader', 'admin')),
    key_sha256 TEXT   NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);

-- The risk manager's decision on a signal, on the signal's own row rather than in a table of
-- its own: a signal and its decision are recorded together, by one idempotent insert keyed by
-- the signal id, so neither can exist without the other and a replayed record keeps the
-- stored pair whole. Signals recorded without a decision (before this migration) have all four
-- columns NULL. An approval has no reason; a refusal names one (e.g. "min_confidence").
ALTER TABLE signals
    ADD COLUMN approved        BOOLEAN,
    ADD COLUMN reason          TEXT,
    ADD COLUMN decision_detail JSONB,
    ADD COLUMN decided_ms      BIGINT,
    ADD CONSTRAINT signals_decision CHECK (
        (approved IS NULL AND reason IS NULL AND decision_detail IS NULL AND decided_ms IS NULL)
        OR (approved IS NOT NULL AND decision_detail IS NOT NULL AND decided_ms IS NOT NULL
            AND jsonb_typeof(decision_detail) = 'object'
            AND (CASE WHEN approved THEN reason IS NULL ELSE reason IS NOT NULL AND reason <> '' END))
    );
