//! The registry's schema, one numbered migration after another (SQLite's
//! `user_version` says how many ran). Never edit one that shipped: add the
//! next.

pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE applications (
    id INTEGER PRIMARY KEY,
    given_name TEXT NOT NULL,
    surnames TEXT NOT NULL,
    nif TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    card_serial INTEGER,
    state TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- A citizen has at most one live application.
CREATE UNIQUE INDEX applications_live_nif ON applications(nif)
    WHERE state IN ('requested', 'activated', 'renewed');
CREATE TABLE identity_checks (
    id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    document_kind TEXT NOT NULL,
    document_number TEXT NOT NULL,
    support_number TEXT,
    document_expires TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    operator TEXT NOT NULL
);
CREATE TABLE cards (
    serial INTEGER PRIMARY KEY,
    application_id INTEGER REFERENCES applications(id),
    state TEXT NOT NULL,
    sealed_key BLOB,
    pending_key BLOB,
    updated_at INTEGER NOT NULL
);
CREATE TABLE activations (
    id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    card_serial INTEGER NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    runs INTEGER NOT NULL,
    reader TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    last_error TEXT
);
CREATE UNIQUE INDEX activations_open_app ON activations(application_id) WHERE state = 'running';
CREATE UNIQUE INDEX activations_open_card ON activations(card_serial) WHERE state = 'running';
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    card_serial INTEGER NOT NULL,
    activation_id INTEGER NOT NULL REFERENCES activations(id),
    slot TEXT NOT NULL,
    der BLOB NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    state TEXT NOT NULL,
    revocation_reason TEXT,
    updated_at INTEGER NOT NULL
);
CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    activation_id INTEGER NOT NULL REFERENCES activations(id),
    run INTEGER NOT NULL,
    step TEXT NOT NULL,
    outcome TEXT NOT NULL,
    data TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
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
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    r#"
ALTER TABLE cards ADD COLUMN sealed_puks BLOB;
"#,
    r#"
-- The Generation Codes of software certificates (generation_code.rs): only
-- a keyed digest of each code, never the code. One code per identity check,
-- at most one live code per application, and a code that is used or void
-- never changes again.
CREATE TABLE generation_codes (
    id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    identity_check_id INTEGER NOT NULL UNIQUE REFERENCES identity_checks(id),
    digest BLOB NOT NULL,
    delivery TEXT NOT NULL,
    state TEXT NOT NULL,
    failures INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX generation_codes_live ON generation_codes(application_id)
    WHERE state = 'live';
CREATE TRIGGER generation_codes_final BEFORE UPDATE ON generation_codes
    WHEN OLD.state <> 'live' OR NEW.digest <> OLD.digest OR NEW.expires_at <> OLD.expires_at
    BEGIN SELECT RAISE(ABORT, 'a used or void generation code never changes'); END;
CREATE TABLE software_certificates (
    serial TEXT PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    code_id INTEGER NOT NULL UNIQUE REFERENCES generation_codes(id),
    der BLOB NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    state TEXT NOT NULL,
    revocation_reason TEXT,
    updated_at INTEGER NOT NULL
);
"#,
    // An identity check serves one activation.
    r#"
ALTER TABLE identity_checks ADD COLUMN used_by INTEGER REFERENCES activations(id);
"#,
    // A software certificate comes from a code or renews another one (in
    // the citizen's area), at most once. SQLite cannot drop a NOT NULL:
    // the table is made again.
    r#"
CREATE TABLE software_certificates_next (
    serial TEXT PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    code_id INTEGER UNIQUE REFERENCES generation_codes(id),
    renews TEXT UNIQUE REFERENCES software_certificates_next(serial),
    der BLOB NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    state TEXT NOT NULL,
    revocation_reason TEXT,
    updated_at INTEGER NOT NULL,
    CHECK ((code_id IS NULL) <> (renews IS NULL))
);
INSERT INTO software_certificates_next (serial, application_id, code_id, der, not_before,
    not_after, state, revocation_reason, updated_at)
    SELECT serial, application_id, code_id, der, not_before, not_after, state,
        revocation_reason, updated_at FROM software_certificates;
DROP TABLE software_certificates;
ALTER TABLE software_certificates_next RENAME TO software_certificates;
"#,
];
