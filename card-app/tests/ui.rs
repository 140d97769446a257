//! The citizen's card manager driven as a citizen would (egui_kittest,
//! through AccessKit: widgets found by their role and label), on
//! firma-vcard cards in the rig's own pcscd, personalized by the station's
//! own `firma-station activate`. What the window did is checked with tools
//! Firma did not write: OpenSC's pkcs11-tool for the PIN, yubico-piv-tool
//! to block it, openssl for the certificates' dates, NSS's modutil for the
//! browsers.
//!
//! One private pcscd for the whole binary (libpcsclite reads its socket
//! path once per process), so the tests run one after the other
//! (`harness = false`, [`firma_tests::run_with_shared_rig`]).

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::{Harness, SnapshotOptions};
use firma_card::ui::App;
use firma_card::worker::RegisterTarget;
use firma_tests::station::{puk_from_letter, run, StationDir};
use firma_tests::{ok, oracle, Card, CardOptions, Pcscd};

const PIN: &str = "730194";
const NEW_PIN: &str = "581036";
/// As the station writes the certificates' subject (given name, surnames).
const HOLDER: &str = "MARTA VILA PUIG";

/// A firma-vcard in reader 0, personalized by the station for Marta Vila
/// Puig (P-256 keys: fast), with certificates of `days` days; the PUK of
/// her letter.
fn personalized_card(rig: &Pcscd, days: u32) -> (Card, StationDir, String) {
    let st = StationDir::new();
    st.import_csv(
        rig,
        "given_name,surnames,nif,email,phone,card_serial\nMarta,Vila Puig,12345678Z,marta@example.cat,600000020,3001\n",
    )
    .ok();
    st.identity(rig, "12345678Z");
    let card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(3001),
                ..Default::default()
            },
        )
        .unwrap();
    // The local CA's validity, by the station's test knob (a build with
    // `firma-station-engine/test-knobs`, as test.sh makes).
    let run = run(
        st.command(rig)
            .env("FIRMA_STATION_CERT_DAYS", days.to_string())
            .args([
                "activate",
                "--reader",
                "00 00",
                "--application",
                "12345678Z",
                "--pin-stdin",
                "--algorithm",
                "p256",
            ]),
        &format!("{PIN}\n{PIN}\n"),
    )
    .ok();
    let puk = puk_from_letter(&run.letter).expect("the PUK letter");
    (card, st, puk)
}

fn harness(target: RegisterTarget) -> Harness<'static, App> {
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(1000.0, 1000.0))
        .build_ui_state(|ui, app: &mut App| app.show(ui), App::new(target));
    firma_card::ui::setup_style(&h.ctx);
    h.step();
    h
}

fn visible(h: &Harness<'static, App>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// Steps the window (as frames would come) until `text` shows.
fn wait_for(h: &mut Harness<'static, App>, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        h.step();
        if visible(h, text) && !h.state().is_working() {
            h.step();
            return;
        }
        if Instant::now() > deadline {
            screenshot(h, "timeout");
            let shown: Vec<String> = h
                .query_all_by_label_contains("")
                .filter_map(|n| n.accesskit_node().label().map(|l| l.to_string()))
                .collect();
            panic!("timed out waiting for {text:?}; the window shows {shown:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The window as it is, for a failure's diagnosis.
fn screenshot(h: &mut Harness<'static, App>, name: &str) {
    h.step();
    if let Ok(image) = h.render() {
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        let _ = std::fs::create_dir_all(&target);
        let _ = image.save(target.join(format!("firma-card-{name}.png")));
    }
}

fn type_into(h: &mut Harness<'static, App>, label: &str, text: &str) {
    let node = h.get_by_role_and_label(Role::PasswordInput, label);
    node.focus();
    node.type_text(text);
    h.step();
}

fn click(h: &mut Harness<'static, App>, role: Role, label: &str) {
    h.get_by_role_and_label(role, label).click();
    h.step();
    h.step();
}

/// OpenSC logs in to the card with `pin` (an independent PIV client).
fn opensc_login(rig: &Pcscd, pin: &str) -> bool {
    rig.opensc(
        0,
        &[
            "--login",
            "--pin",
            pin,
            "--list-objects",
            "--type",
            "privkey",
        ],
    )
    .output()
    .unwrap()
    .status
    .success()
}

/// The certificate's last day as openssl reads it from what OpenSC reads
/// from the card (`id` 01 = 9A).
fn not_after(rig: &Pcscd, id: &str, dir: &Path) -> time::Date {
    let pem = oracle::opensc_certificate(rig, 0, id, dir);
    let out = ok(Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
        .arg(&pem));
    // notAfter=2029-12-01 17:31:02Z
    let day = out.trim().trim_start_matches("notAfter=");
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(&day[..10], &format).unwrap()
}

fn date(d: time::Date) -> String {
    format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())
}

/// A card the station personalized: the holder, the three certificates by
/// what they are for with their last day, the day renewal opens (70 days
/// before), and the PIN's tries in words; in English and Valencian too.
fn shows_the_card_its_certificates_and_renewal(rig: &mut Pcscd) {
    let (_card, _st, _puk) = personalized_card(rig, 1095);
    let mut h = harness(RegisterTarget::default());
    wait_for(&mut h, HOLDER);
    assert!(visible(&h, "12345678Z"), "the NIF");
    let tmp = tempfile::tempdir().unwrap();
    let until = not_after(rig, "01", tmp.path());
    for purpose in [
        "Iniciar sesión en sitios web",
        "Firmar documentos",
        "Cifrar y descifrar correo",
    ] {
        assert!(visible(&h, purpose), "{purpose}");
    }
    let valid = format!("válido hasta el {}", date(until));
    assert_eq!(h.query_all_by_label(&valid).count(), 3, "{valid}");
    let opens = until - time::Duration::days(70);
    assert!(
        visible(&h, &format!("Podrá renovarlos desde el {}", date(opens))),
        "renewal from {opens}"
    );
    assert!(visible(&h, "PIN: le quedan 3 intentos."));
    snapshot(&mut h, "1-card");

    h.state_mut().lang = firma_card::ui::i18n::Lang::En;
    h.step();
    h.step();
    assert!(visible(&h, "Log in to web sites"));
    assert!(visible(
        &h,
        &format!("You can renew them from {}", date(opens))
    ));
    assert!(visible(&h, "PIN: 3 tries left."));
    h.state_mut().lang = firma_card::ui::i18n::Lang::Va;
    h.step();
    h.step();
    assert!(visible(&h, "Signar documents"));
    assert!(visible(&h, "PIN: vos queden 3 intents."));
}

/// The README's screenshot: compared with `tests/snapshots/NAME.png` (what
/// changes each run, the dates, is masked); `UPDATE_SNAPSHOTS=1` rewrites it.
fn snapshot(h: &mut Harness<'static, App>, name: &str) {
    h.step();
    let masks: Vec<_> = h
        .query_all_by_label_contains("/20")
        .filter_map(|n| n.accesskit_node().bounding_box())
        .collect();
    let mut image = h.render().expect("render the window (wgpu)");
    let (width, height) = image.dimensions();
    for r in masks {
        let x = (r.x0.max(0.0) as u32)..(r.x1.ceil().min(width as f64) as u32);
        let y = (r.y0.max(0.0) as u32)..(r.y1.ceil().min(height as f64) as u32);
        for (x, y) in y.flat_map(|y| x.clone().map(move |x| (x, y))) {
            image.get_pixel_mut(x, y).0 = [200, 200, 200, 255];
        }
    }
    let options = SnapshotOptions::new()
        .output_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
    egui_kittest::try_image_snapshot_options(&image, name, &options).unwrap();
}

/// The PIN changed in the window: a new PIN against the rules is refused
/// before the card sees it, a wrong current PIN says the tries left, and
/// after the change OpenSC logs in with the new PIN and not the old one.
fn changes_the_pin(rig: &mut Pcscd) {
    let (_card, _st, _puk) = personalized_card(rig, 1095);
    let mut h = harness(RegisterTarget::default());
    wait_for(&mut h, HOLDER);

    type_into(&mut h, "PIN actual", PIN);
    type_into(&mut h, "PIN nuevo", "123456");
    type_into(&mut h, "Repita el PIN nuevo", "123456");
    click(&mut h, Role::Button, "Cambiar");
    assert!(visible(&h, "no puede ser una serie de cifras seguidas"));
    assert!(h.state().secrets_wiped(), "the refused PINs are wiped");

    type_into(&mut h, "PIN actual", "999999");
    type_into(&mut h, "PIN nuevo", NEW_PIN);
    type_into(&mut h, "Repita el PIN nuevo", NEW_PIN);
    click(&mut h, Role::Button, "Cambiar");
    wait_for(&mut h, "PIN actual incorrecto: le quedan 2 intentos.");
    wait_for(&mut h, "PIN: le quedan 2 intentos.");

    type_into(&mut h, "PIN actual", PIN);
    type_into(&mut h, "PIN nuevo", NEW_PIN);
    type_into(&mut h, "Repita el PIN nuevo", NEW_PIN);
    h.key_press(egui::Key::Enter);
    h.step();
    wait_for(&mut h, "PIN cambiado.");
    assert!(h.state().secrets_wiped(), "the PINs are wiped once sent");
    wait_for(&mut h, "PIN: le quedan 3 intentos.");
    assert!(
        opensc_login(rig, NEW_PIN),
        "OpenSC logs in with the new PIN"
    );
    assert!(!opensc_login(rig, PIN), "the old PIN is refused");
}

/// A PIN blocked by another program (yubico-piv-tool) is shown blocked,
/// only the unblock form is offered, and the PUK from the letter with a
/// new PIN unblocks it: OpenSC logs in with the new PIN.
fn unblocks_a_blocked_pin_with_the_puk(rig: &mut Pcscd) {
    let (_card, _st, puk) = personalized_card(rig, 1095);
    oracle::block_pin(rig, 0, firma_tests::CardKind::Firma);
    let mut h = harness(RegisterTarget::default());
    wait_for(
        &mut h,
        "Su PIN está bloqueado: desbloquéelo con el PUK de su carta.",
    );
    assert!(
        h.query_by_role_and_label(Role::PasswordInput, "PIN actual")
            .is_none(),
        "no PIN change while the PIN is blocked"
    );
    // As the letter prints it: two groups of four.
    type_into(
        &mut h,
        "PUK (de su carta)",
        &format!("{} {}", &puk[..4], &puk[4..]),
    );
    type_into(&mut h, "PIN nuevo", NEW_PIN);
    type_into(&mut h, "Repita el PIN nuevo", NEW_PIN);
    click(&mut h, Role::Button, "Desbloquear");
    wait_for(&mut h, "PIN desbloqueado.");
    wait_for(&mut h, "PIN: le quedan 3 intentos.");
    assert!(h.state().secrets_wiped());
    assert!(
        opensc_login(rig, NEW_PIN),
        "OpenSC logs in with the new PIN"
    );
}

/// Wrong PUKs say the tries left; the last one blocks the PUK and the
/// window says to go to a PRU, and offers no unblock any more.
fn a_blocked_puk_sends_the_citizen_to_a_pru(rig: &mut Pcscd) {
    let (_card, _st, _puk) = personalized_card(rig, 1095);
    oracle::block_pin(rig, 0, firma_tests::CardKind::Firma);
    let mut h = harness(RegisterTarget::default());
    wait_for(&mut h, "Su PIN está bloqueado");
    for (i, said) in [
        "PUK incorrecto: le quedan 2 intentos.",
        "PUK incorrecto: le queda 1 intento.",
        "Acuda a un Punto de Registro (PRU) con su documento de identidad.",
    ]
    .iter()
    .enumerate()
    {
        type_into(&mut h, "PUK (de su carta)", &format!("0000000{i}"));
        type_into(&mut h, "PIN nuevo", NEW_PIN);
        type_into(&mut h, "Repita el PIN nuevo", NEW_PIN);
        click(&mut h, Role::Button, "Desbloquear");
        wait_for(&mut h, said);
    }
    assert!(
        h.query_by_role_and_label(Role::PasswordInput, "PUK (de su carta)")
            .is_none(),
        "no unblock with a blocked PUK"
    );
    // And when the window is opened again, it says so at once.
    let mut h = harness(RegisterTarget::default());
    wait_for(&mut h, "Su PUK está bloqueado");
}

/// "Use my card in Firefox and Chrome" in a scratch HOME with one Firefox
/// profile: the module goes into the profile and into Chrome's NSS
/// database (created), as NSS's modutil lists them; pressed again, nothing
/// is added twice.
fn registers_in_firefox_and_chrome(_rig: &mut Pcscd) {
    let home = tempfile::tempdir().unwrap();
    let profile = home.path().join(".mozilla/firefox/k3x9a1.default-esr");
    std::fs::create_dir_all(&profile).unwrap();
    ok(Command::new("certutil").args([
        "-N",
        "-d",
        &format!("sql:{}", profile.display()),
        "--empty-password",
    ]));
    let module = firma_tests::firma_module();
    let mut h = harness(RegisterTarget {
        home: Some(home.path().to_path_buf()),
        module: Some(module.clone().into()),
    });
    // No card is needed to register the module.
    wait_for(&mut h, "Inserte su tarjeta en el lector.");
    click(&mut h, Role::Button, "Usar mi tarjeta en Firefox y Chrome");
    wait_for(&mut h, "Hecho. Abra Firefox o Chrome");
    assert!(visible(&h, "Firefox (perfil k3x9a1.default-esr)"));
    assert!(visible(&h, "Chrome y Chromium"));
    for db in [profile, home.path().join(".pki/nssdb")] {
        let out = Command::new("modutil")
            .args(["-dbdir", &format!("sql:{}", db.display()), "-list", "Firma"])
            .output()
            .unwrap();
        // (modutil fails on the rig's empty readers after listing the module.)
        let out = String::from_utf8_lossy(&out.stdout);
        let canonical = std::fs::canonicalize(&module).unwrap();
        assert!(
            out.contains(&canonical.display().to_string()),
            "{}: {out}",
            db.display()
        );
    }
    // Pressed again: nothing twice.
    click(&mut h, Role::Button, "Usar mi tarjeta en Firefox y Chrome");
    wait_for(&mut h, "ya estaba");
}

fn main() -> ExitCode {
    let tests: [(&str, firma_tests::SharedRigTest); 5] = [
        (
            "shows_the_card_its_certificates_and_renewal",
            shows_the_card_its_certificates_and_renewal,
        ),
        ("changes_the_pin", changes_the_pin),
        (
            "unblocks_a_blocked_pin_with_the_puk",
            unblocks_a_blocked_pin_with_the_puk,
        ),
        (
            "a_blocked_puk_sends_the_citizen_to_a_pru",
            a_blocked_puk_sends_the_citizen_to_a_pru,
        ),
        (
            "registers_in_firefox_and_chrome",
            registers_in_firefox_and_chrome,
        ),
    ];
    firma_tests::run_with_shared_rig(&tests, || {})
}
