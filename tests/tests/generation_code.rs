//! The Generation Code of a software certificate, end to end: issued by
//! `firma-station generation-code` after the identity check, on paper (the
//! PDF read back with poppler's pdftotext) or by SMS to an HTTP gateway of
//! the test's own on loopback; redeemed with its NIF through the engine,
//! the certificate issued by the test CA. Runs on the embedded registry,
//! and on the rig's PostgreSQL with `FIRMA_TEST_REGISTRY=postgres`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;

use firma_apdu::piv::{Algorithm, PublicKey};
use firma_station_engine::ca::Issued;
use firma_station_engine::csr;
use firma_station_engine::engine::{Config, Station};
use firma_station_engine::error::StationError;
use firma_station_engine::generation_code::{self, CodeError, CodeKey, Delivery};
use firma_station_engine::profile::CertProfile;
use firma_station_engine::registry::{AppKey, Application, CodeState};
use firma_tests::station::{run, Run, StationDir};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use sha2::Digest;
use time::{Duration, OffsetDateTime};

const APPS: &str = "given_name,surnames,nif,email,phone,card_serial
Ana,García López,12345678Z,ana@example.es,+34600111222,
Luis,Pérez Gómez,87654321X,luis@example.es,+34600333444,
";

fn cli(dir: &StationDir, args: &[&str]) -> Run {
    run(dir.cli().args(args), "")
}

fn setup() -> StationDir {
    let dir = StationDir::new();
    let file = dir.path().join("apps.csv");
    std::fs::write(&file, APPS).unwrap();
    cli(&dir, &["applications", "import", file.to_str().unwrap()]).ok();
    dir
}

/// The code in a letter printed as text: the line after the label.
fn code_in_letter(text: &str) -> String {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Su código"));
    lines.next().expect("the code's label");
    let line = lines.find(|l| !l.trim().is_empty()).expect("the code");
    line.split_whitespace().collect()
}

fn pdftotext(path: &std::path::Path) -> String {
    let out = Command::new("pdftotext")
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Issues a P-256 certificate for the application from the test CA, as
/// the portal would: a key in memory, a request it signs, the CA's check.
fn issue_certificate(station: &Station, app: &Application) -> Result<(Issued, ()), StationError> {
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let public = PublicKey::Ec {
        algorithm: Algorithm::EccP256,
        point: key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
    };
    let info = csr::request_info(&app.holder(), &public).unwrap();
    let sig: p256::ecdsa::DerSignature = key.sign_prehash(&sha2::Sha256::digest(&info)).unwrap();
    let request = csr::assemble(&info, Algorithm::EccP256, sig.as_bytes()).unwrap();
    let issued = station
        .ca()
        .issue(&request, &app.holder(), CertProfile::Software)?;
    Ok((issued, ()))
}

fn redeem(
    station: &Station,
    nif: &str,
    code: &str,
    now: OffsetDateTime,
) -> Result<(), StationError> {
    let key = CodeKey::open(&station.dir().join(generation_code::KEY_FILE)).unwrap();
    generation_code::redeem(station, &key, nif, code, now, |app| {
        issue_certificate(station, app)
    })
    .map(|_| ())
}

fn refused(r: Result<(), StationError>) -> String {
    match r {
        Err(e @ StationError::GenerationCode(CodeError::Refused)) => e.to_string(),
        other => panic!("expected the one refusal, got {other:?}"),
    }
}

/// Everything the station wrote that the code must not be in: the registry
/// (the SQLite file, or every row of the central one), the log, the audit.
fn assert_nowhere(dir: &StationDir, station: &Station, codes: &[&str]) {
    let mut haystacks = vec![std::fs::read_to_string(dir.log()).unwrap_or_default()];
    for e in station.registry().audit_entries().unwrap() {
        haystacks.push(format!("{} {} {}", e.action, e.subject, e.detail));
    }
    match &dir.central {
        None => {
            let db = std::fs::read(dir.path().join("registry.sqlite")).unwrap();
            let wal = std::fs::read(dir.path().join("registry.sqlite-wal")).unwrap_or_default();
            haystacks.push(String::from_utf8_lossy(&db).into_owned());
            haystacks.push(String::from_utf8_lossy(&wal).into_owned());
        }
        Some(central) => {
            for table in [
                "applications",
                "identity_checks",
                "generation_codes",
                "software_certificates",
                "audit",
            ] {
                let rows = central
                    .server
                    .psql(&central.database, &format!("SELECT * FROM {table}"))
                    .unwrap();
                haystacks.push(rows);
            }
        }
    }
    for code in codes {
        for h in &haystacks {
            assert!(!h.contains(code), "the code {code} was written down");
        }
    }
}

#[test]
fn a_code_on_paper_needs_a_fresh_identity_check_and_voids_the_previous_one() {
    let dir = setup();
    // No identity check yet.
    let r = cli(&dir, &["generation-code", "issue", "12345678Z"]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stderr.contains("identity has not been checked"),
        "{}",
        r.all()
    );

    dir.identity_without_readers("12345678Z");
    let first = cli(&dir, &["generation-code", "issue", "12345678Z"]).ok();
    assert!(
        first.stdout.contains("Código de Generación"),
        "{}",
        first.stdout
    );
    let code1 = code_in_letter(&first.stdout);
    assert_eq!(code1.len(), 10, "{code1:?}");

    // The same identity check gives no second code.
    let again = cli(&dir, &["generation-code", "issue", "12345678Z"]);
    assert_eq!(again.code, 4, "{}", again.all());
    assert!(
        again.stderr.contains("check the citizen's document again"),
        "{}",
        again.all()
    );

    // A new check: a new code, in a PDF letter, and the first one void.
    dir.identity_without_readers("12345678Z");
    let pdf = dir.path().join("code.pdf");
    let second = cli(
        &dir,
        &[
            "generation-code",
            "issue",
            "12345678Z",
            "--letter",
            pdf.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(
        second.stderr.contains("the previous code is void"),
        "{}",
        second.all()
    );
    let text = pdftotext(&pdf);
    assert!(
        text.contains("Valid until") && text.contains("In English"),
        "{text}"
    );
    let code2 = code_in_letter(&text);
    assert_eq!(code2.len(), 10);
    assert_ne!(code1, code2);
    let list = cli(&dir, &["generation-code", "list", "12345678Z"]).ok();
    assert!(
        list.stdout.contains("code 1: paper") && list.stdout.contains("voided"),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout.contains("code 2: paper") && list.stdout.contains("live"),
        "{}",
        list.stdout
    );

    let station = dir.open_station("citizen", "portal", Config::default());
    let now = OffsetDateTime::now_utc();
    // The voided code, and the live one with another citizen's NIF: refused.
    let voided = refused(redeem(&station, "12345678Z", &code1, now));
    let other_nif = refused(redeem(&station, "87654321X", &code2, now));
    assert_eq!(voided, other_nif, "one answer for every refusal");
    // The right NIF and code: a certificate, recorded with the code used.
    redeem(&station, "12345678Z", &code2, now).unwrap();
    let app = station
        .application(&AppKey::Nif("12345678Z".into()))
        .unwrap();
    let certs = station.registry().software_certificates(app.id).unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].code_id, Some(2));
    // Single use.
    refused(redeem(&station, "12345678Z", &code2, now));
    let codes = station.registry().codes(app.id).unwrap();
    assert_eq!(
        codes.iter().map(|c| c.state).collect::<Vec<_>>(),
        [CodeState::Voided, CodeState::Used]
    );
    assert_nowhere(&dir, &station, &[&code1, &code2]);
    let verify = cli(&dir, &["audit", "verify"]).ok();
    assert!(verify.stdout.contains("intact"), "{}", verify.stdout);
}

#[test]
fn three_wrong_codes_void_it_and_an_expired_code_gets_the_same_answer() {
    let dir = setup();
    let station = dir.open_station("operator", "pru-test", Config::default());
    let doc = |nif: &str| {
        firma_station_engine::identity::IdentityDocument::check(
            "DNI",
            nif,
            None,
            "2035-01-01",
            OffsetDateTime::now_utc().date(),
        )
        .unwrap()
    };
    let issue = |nif: &str| {
        firma_station_engine::services::record_identity_check(
            &station,
            &AppKey::Nif(nif.into()),
            &doc(nif),
            true,
        )
        .unwrap();
        generation_code::issue(&station, &AppKey::Nif(nif.into()), &Delivery::Paper).unwrap()
    };
    let now = OffsetDateTime::now_utc();

    let ana = issue("12345678Z");
    let right = ana.code.expose().to_string();
    let mut wrong = right.clone().into_bytes();
    wrong[0] = if wrong[0] == b'2' { b'3' } else { b'2' };
    let wrong = String::from_utf8(wrong).unwrap();
    let unknown_nif = refused(redeem(&station, "00000000T", &right, now));
    let malformed = refused(redeem(&station, "12345678Z", "nonsense!", now));
    assert_eq!(unknown_nif, malformed);
    // Two wrong codes (the malformed one counted): the third voids it, and
    // then the right code is refused too.
    refused(redeem(&station, "12345678Z", &wrong, now));
    refused(redeem(&station, "12345678Z", &wrong, now));
    refused(redeem(&station, "12345678Z", &right, now));
    let codes = station.registry().codes(ana.record.application_id).unwrap();
    assert_eq!(codes[0].state, CodeState::Voided);
    assert_eq!(codes[0].failures, 3);

    // Luis's code, sixteen days on (the clock injected): expired, and
    // refused with the same words; it stays unusable on the next day's
    // clock going back as well, once voided by a new code.
    let luis = issue("87654321X");
    let code = luis.code.expose().to_string();
    let expired = refused(redeem(
        &station,
        "87654321X",
        &code,
        now + Duration::days(16),
    ));
    assert_eq!(expired, unknown_nif);
    let luis2 = issue("87654321X");
    assert_eq!(luis2.voided, [luis.record.id]);
    refused(redeem(&station, "87654321X", &code, now));
    redeem(&station, "87654321X", luis2.code.expose(), now).unwrap();

    // Every attempt is in the audit log, a refusal without a live code under
    // the portal.
    let audit = station.registry().audit_entries().unwrap();
    let refusals = audit
        .iter()
        .filter(|e| e.action == "generation code refused")
        .count();
    assert_eq!(refusals, 7, "every refused attempt audited");
    assert!(audit
        .iter()
        .any(|e| e.subject == "portal" && e.detail.contains("00000000T")));
    assert!(audit.iter().any(|e| e.action == "generation code redeemed"));
    assert_nowhere(&dir, &station, &[&right, &code, luis2.code.expose()]);

    // The database itself refuses to revive a void code.
    let revive = format!(
        "UPDATE generation_codes SET state = 'live' WHERE id = {}",
        ana.record.id
    );
    let revived = match &dir.central {
        None => rusqlite::Connection::open(dir.path().join("registry.sqlite"))
            .unwrap()
            .execute(&revive, [])
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Some(central) => central
            .server
            .psql(&central.database, &revive)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    };
    let why = revived.expect_err("a voided code came back");
    assert!(why.contains("never changes"), "{why}");
}

/// A gateway of the test's own: answers each POST with `status` and keeps
/// the bodies it got.
fn gateway(status: u16) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = reader.into_inner();
        write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        vec![String::from_utf8(body).unwrap()]
    });
    (url, handle)
}

#[test]
fn a_code_by_sms_goes_to_the_gateway_and_one_it_refuses_is_void() {
    let dir = setup();
    dir.identity_without_readers("12345678Z");
    let (url, got) = gateway(200);
    let r = cli(
        &dir,
        &[
            "generation-code",
            "issue",
            "12345678Z",
            "--sms",
            "--sms-gateway",
            &url,
        ],
    )
    .ok();
    assert!(r.stderr.contains("Sent by SMS to ...222"), "{}", r.all());
    assert!(
        !r.stdout.contains("Código"),
        "no letter for an SMS: {}",
        r.stdout
    );
    let body = got.join().unwrap().remove(0);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["to"], "+34600111222");
    let text = json["text"].as_str().unwrap();
    let code = text
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .unwrap()
        .to_string();
    assert_eq!(code.len(), 10, "{text}");

    // The gateway refuses the next one: the code is void at once.
    dir.identity_without_readers("12345678Z");
    let (url, got) = gateway(503);
    let r = cli(
        &dir,
        &[
            "generation-code",
            "issue",
            "12345678Z",
            "--sms",
            "--sms-gateway",
            &url,
        ],
    );
    got.join().unwrap();
    assert_eq!(r.code, 5, "{}", r.all());
    assert!(r.stderr.contains("the code was voided"), "{}", r.all());
    let list = cli(&dir, &["generation-code", "list", "12345678Z"]).ok();
    assert!(
        list.stdout.contains("code 1: sms") && list.stdout.contains("voided, 0 wrong"),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("code 2: sms"), "{}", list.stdout);
    let station = dir.open_station("citizen", "portal", Config::default());
    let codes = station.registry().codes(1).unwrap();
    assert_eq!(
        codes.iter().map(|c| c.state).collect::<Vec<_>>(),
        [CodeState::Voided, CodeState::Voided]
    );
    // Without a gateway, --sms says what to configure.
    dir.identity_without_readers("12345678Z");
    let r = cli(&dir, &["generation-code", "issue", "12345678Z", "--sms"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("--sms-gateway"), "{}", r.all());
    assert_nowhere(&dir, &station, &[&code]);
}

/// What the registry keeps of a software certificate after its code: a
/// renewal names the certificate it renews and happens once; a revoked one
/// is renewed no more and revoked once; each change is audited. On both
/// registries (the central one's migration makes the code optional).
#[test]
fn a_software_certificate_is_renewed_once_and_revoked_once() {
    use firma_station_engine::registry::{SoftwareCertRecord, SoftwareCertState};
    let dir = setup();
    dir.identity_without_readers("12345678Z");
    let code = code_in_letter(
        &cli(&dir, &["generation-code", "issue", "12345678Z"])
            .ok()
            .stdout,
    );
    let station = dir.open_station("citizen", "portal", Config::default());
    let now = OffsetDateTime::now_utc();
    redeem(&station, "12345678Z", &code, now).unwrap();
    let first = station
        .registry()
        .software_certificates_of("12345678Z")
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(station
        .registry()
        .software_certificates_of("87654321X")
        .unwrap()
        .is_empty());
    let app = station
        .application(&AppKey::Nif("12345678Z".into()))
        .unwrap();
    let renewal = |serial: &str| {
        let (issued, ()) = issue_certificate(&station, &app).unwrap();
        SoftwareCertRecord {
            serial: issued.serial,
            application_id: app.id,
            code_id: None,
            renews: Some(serial.to_string()),
            der: issued.der,
            not_before: issued.not_before,
            not_after: issued.not_after,
            state: SoftwareCertState::Issued,
        }
    };
    let old = &first[0].serial;
    let second = renewal(old);
    assert!(station
        .registry()
        .software_renewed(&second, now, &station.actor)
        .unwrap());
    // Once: another renewal of the same certificate is refused, unchanged.
    assert!(!station
        .registry()
        .software_renewed(&renewal(old), now, &station.actor)
        .unwrap());
    let all = station
        .registry()
        .software_certificates_of("12345678Z")
        .unwrap();
    assert_eq!(all.len(), 2);
    let got = station
        .registry()
        .software_certificate(&second.serial)
        .unwrap()
        .unwrap();
    assert_eq!(got.renews.as_deref(), Some(old.as_str()));
    assert_eq!(got.code_id, None);

    assert!(station
        .registry()
        .software_revoked(&second.serial, "unspecified", now, &station.actor)
        .unwrap());
    assert!(!station
        .registry()
        .software_revoked(&second.serial, "unspecified", now, &station.actor)
        .unwrap());
    assert_eq!(
        station
            .registry()
            .software_certificate(&second.serial)
            .unwrap()
            .unwrap()
            .state,
        SoftwareCertState::Revoked
    );
    // A revoked certificate is renewed no more.
    assert!(!station
        .registry()
        .software_renewed(&renewal(&second.serial), now, &station.actor)
        .unwrap());
    let audit = cli(&dir, &["audit", "show"]).ok().stdout;
    assert_eq!(
        audit.matches("software certificate renewed").count(),
        1,
        "{audit}"
    );
    assert_eq!(
        audit.matches("software certificate revoked").count(),
        1,
        "{audit}"
    );
}
