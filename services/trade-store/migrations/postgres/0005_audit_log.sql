-- Who did what, when: append only.
CREATE TABLE audit_log (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms  BIGINT NOT NULL,
    actor  TEXT   NOT NULL,
    action TEXT   NOT NULL,
    detail JSONB  NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (at_ms);
