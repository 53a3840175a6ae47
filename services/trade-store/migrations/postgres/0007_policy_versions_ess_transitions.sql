-- Risk-policy versions, append only: 1, 2, 3, ... without gaps. A version is stored by
-- compare-and-set (the writer names the latest version it saw, the store checks it in the same
-- transaction); the primary key makes the loser of two racing writers fail instead of both
-- storing the same number. `document` is the whole policy as a JSON object.
CREATE TABLE policy_versions (
    version    BIGINT PRIMARY KEY CHECK (version > 0),
    profile    TEXT   NOT NULL CHECK (btrim(profile) <> ''),
    document   JSONB  NOT NULL CHECK (jsonb_typeof(document) = 'object'),
    created_ms BIGINT NOT NULL,
    actor_name TEXT   NOT NULL CHECK (btrim(actor_name) <> ''),
    actor_role TEXT   NOT NULL CHECK (actor_role IN ('viewer', 'trader', 'admin')),
    reason     TEXT   NOT NULL
);

-- Transitions of the emergency stop switch (ESS), append only: seq 1, 2, 3, ... without gaps,
-- checked against the latest seq in the writer's transaction; the latest row is the current
-- state. `cooldown_until_ms` is NULL unless the transition set a cooldown; `detail` holds the
-- measurement behind an automatic trip ('{}' when none).
CREATE TABLE ess_transitions (
    seq               BIGINT PRIMARY KEY CHECK (seq > 0),
    from_state        TEXT   NOT NULL CHECK (from_state IN ('ARMED', 'TRIPPED', 'RESETTING')),
    to_state          TEXT   NOT NULL CHECK (to_state IN ('ARMED', 'TRIPPED', 'RESETTING')),
    trigger           TEXT   NOT NULL CHECK (btrim(trigger) <> ''),
    reason            TEXT   NOT NULL,
    actor_name        TEXT   NOT NULL CHECK (btrim(actor_name) <> ''),
    actor_role        TEXT   NOT NULL CHECK (actor_role IN ('viewer', 'trader', 'admin')),
    at_ms             BIGINT NOT NULL,
    cooldown_until_ms BIGINT CHECK (cooldown_until_ms > 0),
    detail            JSONB  NOT NULL CHECK (jsonb_typeof(detail) = 'object')
);
