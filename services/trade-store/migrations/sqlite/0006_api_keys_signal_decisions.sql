-- API keys. Only the SHA-256 of a key's plaintext is kept (lowercase hex); the plaintext is
-- shown to its owner once by whoever generated it and never reaches the database. A presented
-- key is hashed and looked up by this column, hence UNIQUE (and its index). Revoked keys stay,
-- with the time they were revoked, so the audit log's key ids keep resolving.
CREATE TABLE api_keys (
    key_id     TEXT    PRIMARY KEY NOT NULL,
    name       TEXT    NOT NULL CHECK (trim(name) <> ''),
    role       TEXT    NOT NULL CHECK (role IN ('viewer', 'trader', 'admin')),
    key_sha256 TEXT    NOT NULL UNIQUE
                       CHECK (length(key_sha256) = 64 AND key_sha256 NOT GLOB '*[^0-9a-f]*'),
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
) STRICT;

-- The risk manager's decision on a signal, on the signal's own row rather than in a table of
-- its own: a signal and its decision are recorded together, by one idempotent insert keyed by
-- the signal id, so neither can exist without the other and a replayed record keeps the
-- stored pair whole. Signals recorded without a decision (before this migration) have all four
-- columns NULL. An approval has no reason; a refusal names one (e.g. "min_confidence").
-- SQLite adds one column per statement; the last one carries the check over all four.
ALTER TABLE signals ADD COLUMN approved INTEGER CHECK (approved IN (0, 1));
ALTER TABLE signals ADD COLUMN reason TEXT;
ALTER TABLE signals ADD COLUMN decision_detail TEXT CHECK (json_valid(decision_detail));
ALTER TABLE signals ADD COLUMN decided_ms INTEGER CHECK (
    (approved IS NULL AND reason IS NULL AND decision_detail IS NULL AND decided_ms IS NULL)
    OR (approved IS NOT NULL AND decision_detail IS NOT NULL AND decided_ms IS NOT NULL
        AND json_type(decision_detail) = 'object'
        AND (CASE WHEN approved = 1 THEN reason IS NULL ELSE reason IS NOT NULL AND reason <> '' END))
);
