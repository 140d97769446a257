//! The central registry's schema for PostgreSQL: the same numbered
//! migrations as SQLite's (1 the tables, 2 the sealed PUKs), then what only a
//! server has: 3, the role stations connect as, which may append to the
//! audit log but never change or remove an entry; then 4, SQLite's 3 (the
//! Generation Codes and software certificates) with the role's grants.
//! `firma_schema` says how many ran. Never edit one that shipped: add the
//! next.

pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE applications (
    id BIGSERIAL PRIMARY KEY,
    given_name TEXT NOT NULL,
    surnames TEXT NOT NULL,
    nif TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    card_serial BIGINT,
    state TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- A citizen has at most one live application.
CREATE UNIQUE INDEX applications_live_nif ON applications(nif)
    WHERE state IN ('requested', 'activated', 'renewed');
CREATE TABLE identity_checks (
    id BIGSERIAL PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES applications(id),
    document_kind TEXT NOT NULL,
    document_number TEXT NOT NULL,
    support_number TEXT,
    document_expires TEXT NOT NULL,
    checked_at BIGINT NOT NULL,
    operator TEXT NOT NULL
);
CREATE TABLE cards (
    serial BIGINT PRIMARY KEY,
    application_id BIGINT REFERENCES applications(id),
    state TEXT NOT NULL,
    sealed_key BYTEA,
    pending_key BYTEA,
    updated_at BIGINT NOT NULL
);
CREATE TABLE activations (
    id BIGSERIAL PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES applications(id),
    card_serial BIGINT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    runs BIGINT NOT NULL,
    reader TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    last_error TEXT
);
CREATE UNIQUE INDEX activations_open_app ON activations(application_id) WHERE state = 'running';
CREATE UNIQUE INDEX activations_open_card ON activations(card_serial) WHERE state = 'running';
CREATE TABLE certificates (
    -- Named as SQLite's implicit row id, so that both order certificates alike.
    rowid BIGSERIAL UNIQUE,
    serial TEXT PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES applications(id),
    card_serial BIGINT NOT NULL,
    activation_id BIGINT NOT NULL REFERENCES activations(id),
    slot TEXT NOT NULL,
    der BYTEA NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    state TEXT NOT NULL,
    revocation_reason TEXT,
    updated_at BIGINT NOT NULL
);
CREATE TABLE journal (
    id BIGSERIAL PRIMARY KEY,
    activation_id BIGINT NOT NULL REFERENCES activations(id),
    run BIGINT NOT NULL,
    step TEXT NOT NULL,
    outcome TEXT NOT NULL,
    data TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    operator TEXT NOT NULL,
    station TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit(subject, seq);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
"#,
    r#"
ALTER TABLE cards ADD COLUMN sealed_puks BYTEA;
"#,
    r#"
-- The role every station connects as (the DBA grants it to each station's
-- login role: GRANT firma_station TO pru_valencia_1). It reads and writes
-- the registry's tables but may only append to the audit log: no UPDATE,
-- DELETE or TRUNCATE on audit, whatever a station's software does.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'firma_station') THEN
        CREATE ROLE firma_station NOLOGIN;
    END IF;
END
$$;
GRANT SELECT, INSERT, UPDATE ON applications, identity_checks, cards, activations,
    certificates, journal TO firma_station;
GRANT SELECT, INSERT ON audit TO firma_station;
GRANT SELECT ON firma_schema TO firma_station;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO firma_station;
"#,
    r#"
-- The Generation Codes of software certificates, as SQLite's migration 3:
-- only a keyed digest of each code; a used or void code never changes.
CREATE TABLE generation_codes (
    id BIGSERIAL PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES applications(id),
    identity_check_id BIGINT NOT NULL UNIQUE REFERENCES identity_checks(id),
    digest BYTEA NOT NULL,
    delivery TEXT NOT NULL,
    state TEXT NOT NULL,
    failures BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX generation_codes_live ON generation_codes(application_id)
    WHERE state = 'live';
CREATE FUNCTION generation_codes_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'live' OR NEW.digest <> OLD.digest OR NEW.expires_at <> OLD.expires_at THEN
        RAISE EXCEPTION 'a used or void generation code never changes';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER generation_codes_final BEFORE UPDATE ON generation_codes
    FOR EACH ROW EXECUTE FUNCTION generation_codes_final();
CREATE TABLE software_certificates (
    serial TEXT PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES applications(id),
    code_id BIGINT NOT NULL UNIQUE REFERENCES generation_codes(id),
    der BYTEA NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    state TEXT NOT NULL,
    revocation_reason TEXT,
    updated_at BIGINT NOT NULL
);
GRANT SELECT, INSERT, UPDATE ON generation_codes, software_certificates TO firma_station;
GRANT USAGE ON SEQUENCE generation_codes_id_seq TO firma_station;
"#,
    // An identity check serves one activation.
    r#"
ALTER TABLE identity_checks ADD COLUMN used_by BIGINT REFERENCES activations(id);
"#,
    // A software certificate comes from a code or renews another one (in
    // the citizen's area), at most once.
    r#"
ALTER TABLE software_certificates ALTER COLUMN code_id DROP NOT NULL;
ALTER TABLE software_certificates ADD COLUMN renews TEXT UNIQUE
    REFERENCES software_certificates(serial);
ALTER TABLE software_certificates ADD CHECK ((code_id IS NULL) <> (renews IS NULL));
"#,
];
