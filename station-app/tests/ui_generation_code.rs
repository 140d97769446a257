//! The Generation Code in the operator's window (egui_kittest through
//! AccessKit, the real engine): after the identity check the operator
//! issues a code on paper next to the card's activation, the letter shows
//! it, and the window then asks for a new identity check before another.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use firma_station::ui::App;
use firma_station_engine::engine::{Config, Station};
use firma_station_engine::generation_code::{CodeKey, GenerationCode, KEY_FILE};
use firma_station_engine::registry::{CodeState, NewApplication};
use firma_tests::readers::VirtualReaders;
use firma_tests::station::StationDir;

fn station(dir: &StationDir) -> Arc<Station> {
    let station = dir.open_station("ana.operadora", "PRU València 1", Config::default());
    let now = time::OffsetDateTime::now_utc();
    station
        .registry()
        .import(
            &[NewApplication {
                given_name: "María José".into(),
                surnames: "Núñez Ibáñez".into(),
                nif: "12345678Z".into(),
                email: "maria@example.es".into(),
                phone: "600000000".into(),
                card_serial: None,
                requested_at: now,
                expires_at: now + time::Duration::days(90),
            }],
            &station.actor,
        )
        .unwrap();
    Arc::new(station)
}

fn wait_for(
    h: &mut Harness<'static, App>,
    what: &str,
    cond: impl Fn(&Harness<'static, App>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        h.step();
        if cond(h) && h.state().is_current() {
            h.step();
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn visible(h: &Harness<'static, App>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

fn type_into(h: &mut Harness<'static, App>, label: &str, text: &str) {
    for _ in 0..3 {
        if h.query_by_role_and_label(Role::TextInput, label).is_some() {
            break;
        }
        h.step();
    }
    let node = h.get_by_role_and_label(Role::TextInput, label);
    node.focus();
    node.type_text(text);
    h.step();
}

fn click(h: &mut Harness<'static, App>, label: &str) {
    h.get_by_label(label).scroll_to_me();
    h.step();
    h.get_by_label(label).click();
    h.step();
    h.step();
}

fn check_identity(h: &mut Harness<'static, App>) {
    type_into(h, "Número del documento", "12345678Z");
    type_into(h, "Válido hasta", "17/05/2031");
    click(
        h,
        "He visto el documento y corresponde a la persona presente",
    );
    click(h, "Registrar la comprobación");
    wait_for(h, "the identity check", |h| {
        visible(h, "Identidad comprobada y registrada.")
    });
}

const ISSUE: &str = "Código de generación en papel";

#[test]
fn the_operator_issues_a_code_on_paper_after_the_identity_check() {
    let dir = StationDir::new();
    let station = station(&dir);
    let mut app = App::new(station.clone(), VirtualReaders::new(1));
    app.set_print_command("firma-test-no-printer-here");
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 900.0))
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    h.step();
    type_into(&mut h, "Buscar solicitud", "12345678Z");
    wait_for(&mut h, "the search result", |h| visible(h, "12345678Z · "));
    h.get_by_label_contains("12345678Z · ").click();
    wait_for(&mut h, "the application", |h| {
        visible(h, "Certificado software")
    });
    // Before the identity check the button is there but does nothing.
    assert!(visible(&h, "compruebe antes el documento de identidad"));
    h.get_by_label(ISSUE).click();
    h.step();
    assert!(!visible(&h, "Carta del código de generación"));

    check_identity(&mut h);
    click(&mut h, ISSUE);
    wait_for(&mut h, "the code's letter", |h| {
        visible(h, "Carta del código de generación")
    });
    // The letter names the citizen and carries the code; the code is the
    // one whose digest the registry holds.
    let letter = h
        .query_all_by_label_contains("Su código / Your code")
        .filter_map(|n| {
            n.value()
                .or_else(|| n.accesskit_node().label().map(|l| l.to_string()))
        })
        .find(|l| l.contains("MARÍA JOSÉ NÚÑEZ IBÁÑEZ"))
        .expect("the letter's text");
    let line = letter
        .lines()
        .skip_while(|l| !l.starts_with("Su código"))
        .skip(1)
        .find(|l| !l.trim().is_empty())
        .unwrap();
    let code = GenerationCode::parse(line).expect("a code in the letter");
    let records = station.registry().codes(1).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].state, CodeState::Live);
    let key = CodeKey::open(&dir.path().join(KEY_FILE)).unwrap();
    assert!(key.matches(&records[0].digest, "12345678Z", &code));

    // Handed over: the dialog closes (the letter is dropped), and another
    // code needs another identity check.
    click(&mut h, "Entregada: cerrar");
    wait_for(&mut h, "the application again", |h| {
        visible(h, "Certificado software") && !visible(h, "Carta del código de generación")
    });
    wait_for(&mut h, "the history", |h| {
        visible(h, "compruebe antes el documento de identidad")
    });
    assert!(!visible(&h, code.expose()));
    assert!(visible(&h, "compruebe antes el documento de identidad"));
    assert!(
        visible(&h, "Código de generación emitido"),
        "the history says so"
    );
    assert_eq!(
        station.registry().codes(1).unwrap()[0].state,
        CodeState::Live
    );

    // The citizen lost the letter: the operator checks the document again
    // and issues a second code, which voids the first.
    check_identity(&mut h);
    assert_eq!(
        station.registry().identity_checks(1).unwrap().len(),
        2,
        "the second check is recorded (the form keeps the document kind)"
    );
    click(&mut h, ISSUE);
    wait_for(&mut h, "the second code's letter", |h| {
        visible(h, "Carta del código de generación")
    });
    click(&mut h, "Entregada: cerrar");
    let states: Vec<_> = station
        .registry()
        .codes(1)
        .unwrap()
        .iter()
        .map(|c| c.state)
        .collect();
    assert_eq!(states, [CodeState::Voided, CodeState::Live]);
}
