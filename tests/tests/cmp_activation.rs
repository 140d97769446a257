//! End to end: `firma-station activate --ca-url` on a blank virtual card
//! through pcscd + vpcd, enrolling over CMP with `firma-ca`; OpenSC signs
//! with each certificate and openssl verifies it against firma-ca's CA;
//! revocation over CMP puts the serials in the CRL firma-ca publishes; a CA
//! that is down stops the activation with words, and the next run resumes.

use std::path::{Path, PathBuf};
use std::process::Command;

use firma_tests::cmp::{openssl, FirmaCa, Pki};
use firma_tests::station::{Run, StationDir};
use firma_tests::{ok, verify_with_cert, CardOptions, Pcscd, OPENSC_PKCS11};

const PIN: &str = "281947";
const NIF: &str = "12345678Z";

struct Setup {
    pki: Pki,
    ca_dir: PathBuf,
}

fn setup() -> Setup {
    let pki = Pki::new().unwrap();
    let ca_dir = pki.path("firma-ca");
    let out = Command::new(firma_tests::bin("firma-ca"))
        .arg("--dir")
        .arg(&ca_dir)
        .args(["init", "--name", "Firma CMP Test CA"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::copy(pki.path("ra.crt"), ca_dir.join("ra/station.pem")).unwrap();
    Setup { pki, ca_dir }
}

/// `firma-station --ca-url ... ARGS` for the station in `st`.
fn station(s: &Setup, st: &StationDir, rig: &Pcscd, ca: &str, args: &[&str], stdin: &str) -> Run {
    let ca_cert = s.ca_dir.join("ca.pem");
    let ra_key = s.pki.path("ra.key");
    let ra_cert = s.pki.path("ra.crt");
    let mut all = vec![
        "--ca-url",
        ca,
        "--ca-cert",
        ca_cert.to_str().unwrap(),
        "--ra-key",
        ra_key.to_str().unwrap(),
        "--ra-cert",
        ra_cert.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    st.run(rig, &all, stdin)
}

fn activate(s: &Setup, st: &StationDir, rig: &Pcscd, ca: &str) -> Run {
    station(
        s,
        st,
        rig,
        ca,
        &[
            "activate",
            "--reader",
            "00 00",
            "--application",
            NIF,
            "--pin-stdin",
        ],
        &format!("{PIN}\n{PIN}\n"),
    )
}

fn prepare(st: &StationDir, rig: &Pcscd) {
    let csv = format!(
        "given_name,surnames,nif,email,phone,card_serial\n\
         María José,Núñez Ibáñez,{NIF},mjose@example.es,+34 600 111 222,4242\n"
    );
    st.import_csv(rig, &csv).ok();
    st.identity(rig, NIF);
}

fn issued_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("issued"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn activation_over_cmp_gives_a_card_opensc_signs_with_and_revocation_reaches_the_crl() {
    let s = setup();
    let server = FirmaCa::start(&s.ca_dir, &[]).unwrap();
    let rig = Pcscd::start().expect("rig");
    let _card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(4242),
                ..Default::default()
            },
        )
        .unwrap();
    let st = StationDir::new();
    prepare(&st, &rig);

    let run = activate(&s, &st, &rig, server.url()).ok();
    assert!(
        run.stderr.contains("is activated: 3 certificates loaded"),
        "{}",
        run.all()
    );
    assert_eq!(issued_count(&s.ca_dir), 3);

    let work = tempfile::tempdir().unwrap();
    let w = |n: &str| work.path().join(n);
    std::fs::write(w("data"), b"a document the citizen signs").unwrap();
    for (id, slot) in [("01", "9a"), ("02", "9c")] {
        let der = w(&format!("{slot}.der"));
        ok(&mut rig.pkcs11_tool(
            OPENSC_PKCS11,
            &[
                "--read-object",
                "--type",
                "cert",
                "--id",
                id,
                "-o",
                der.to_str().unwrap(),
            ],
        ));
        let pem = w(&format!("{slot}.pem"));
        openssl(
            work.path(),
            &[
                "x509",
                "-inform",
                "DER",
                "-in",
                der.to_str().unwrap(),
                "-out",
                pem.to_str().unwrap(),
            ],
        )
        .unwrap();
        let ca_pem = s.ca_dir.join("ca.pem");
        let verified = openssl(
            work.path(),
            &[
                "verify",
                "-CAfile",
                ca_pem.to_str().unwrap(),
                pem.to_str().unwrap(),
            ],
        )
        .unwrap();
        assert!(verified.contains(": OK"), "{verified}");
        let sig = w(&format!("{slot}.sig"));
        ok(&mut rig.pkcs11_tool(
            OPENSC_PKCS11,
            &[
                "--login",
                "--pin",
                PIN,
                "--sign",
                "--id",
                id,
                "-m",
                "SHA256-RSA-PKCS",
                "-i",
                w("data").to_str().unwrap(),
                "-o",
                sig.to_str().unwrap(),
            ],
        ));
        verify_with_cert(&pem, "sha256", &w("data"), &sig);
    }

    // Revocation over CMP: the three serials in the CRL firma-ca publishes.
    let run = station(
        &s,
        &st,
        &rig,
        server.url(),
        &[
            "revoke",
            "--application",
            NIF,
            "--reason",
            "key-compromise",
            "--yes",
        ],
        "",
    )
    .ok();
    assert!(run.stdout.contains("3 certificate(s)"), "{}", run.all());
    assert!(
        run.stdout.contains("published by the CA at"),
        "{}",
        run.all()
    );
    let crl = s.ca_dir.join("crl.pem");
    let text = openssl(
        work.path(),
        &["crl", "-in", crl.to_str().unwrap(), "-noout", "-text"],
    )
    .unwrap();
    for entry in std::fs::read_dir(s.ca_dir.join("issued"))
        .unwrap()
        .flatten()
    {
        let name = entry
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".pem")
            .to_string();
        assert!(text.contains(&name), "{name} not in\n{text}");
    }
    assert_eq!(text.matches("Key Compromise").count(), 3, "{text}");
}

#[test]
fn a_ca_that_is_down_stops_the_activation_and_the_next_run_resumes() {
    let s = setup();
    let rig = Pcscd::start().expect("rig");
    let _card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(4242),
                ..Default::default()
            },
        )
        .unwrap();
    let st = StationDir::new();
    prepare(&st, &rig);

    // No CA listens there: the activation stops at the first certificate.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("http://127.0.0.1:{port}/pkix/");
    let run = activate(&s, &st, &rig, &down);
    assert_eq!(run.code, 5, "{}", run.all());
    assert!(run.stderr.contains("cannot reach the CA"), "{}", run.all());
    assert_eq!(issued_count(&s.ca_dir), 0);

    // The CA is back: the same command resumes from the journal.
    let server = FirmaCa::start(&s.ca_dir, &[]).unwrap();
    let run = activate(&s, &st, &rig, server.url()).ok();
    assert!(
        run.stderr.contains("is activated: 3 certificates loaded"),
        "{}",
        run.all()
    );
    assert_eq!(issued_count(&s.ca_dir), 3);
}
