-- Risk-policy versions, append only: 1, 2, 3, ... without gaps. A version is stored by
-- compare-and-set (the writer names the latest version it saw, the store checks it in the same
-- `BEGIN IMMEDIATE` transaction, which serializes writers); the primary key backs it up.
-- `document` is the whole policy as a JSON object (text).
CREATE TABLE policy_versions (
    version    INTEGER PRIMARY KEY NOT NULL CHECK (version > 0),
    profile    TEXT    NOT NULL CHECK (trim(profile) <> ''),
    document   TEXT    NOT NULL CHECK (json_valid(document) AND json_type(document) = 'object'),
    created_ms INTEGER NOT NULL,
    actor_name TEXT    NOT NULL CHECK (trim(actor_name) <> ''),
    actor_role TEXT    NOT NULL CHECK (actor_role IN ('viewer', 'trader', 'admin')),
    reason     TEXT    NOT NULL
) STRICT;

-- Transitions of the emergency stop switch (ESS), append only: seq 1, 2, 3, ... without gaps,
-- checked against the latest seq in the writer's transaction; the latest row is the current
-- state. `cooldown_until_ms` is NULL unless the transition set a cooldown; `detail` holds the
-- measurement behind an automatic trip ('{}' when none).
CREATE TABLE ess_transitions (
    seq               INTEGER PRIMARY KEY NOT NULL CHECK (seq > 0),
    from_state        TEXT    NOT NULL CHECK (from_state IN ('ARMED', 'TRIPPED', 'RESETTING')),
    to_state          TEXT    NOT NULL CHECK (to_state IN ('ARMED', 'TRIPPED', 'RESETTING')),
    trigger           TEXT    NOT NULL CHECK (trim(trigger) <> ''),
    reason            TEXT    NOT NULL,
    actor_name        TEXT    NOT NULL CHECK (trim(actor_name) <> ''),
    actor_role        TEXT    NOT NULL CHECK (actor_role IN ('viewer', 'trader', 'admin')),
    at_ms             INTEGER NOT NULL,
    cooldown_until_ms INTEGER CHECK (cooldown_until_ms > 0),
    detail            TEXT    NOT NULL CHECK (json_valid(detail) AND json_type(detail) = 'object')
) STRICT;
