-- Who did what, when: append only.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms  INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    detail TEXT    NOT NULL CHECK (json_valid(detail))
) STRICT;
CREATE INDEX audit_log_time ON audit_log (at_ms);
