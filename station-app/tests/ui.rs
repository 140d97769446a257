//! The operator's window driven as an operator would (egui_kittest, through
//! AccessKit: widgets found by their role and label), with the station's
//! real engine and in-process virtual cards in two readers.
//!
//! The main screens are rendered (wgpu on Mesa's lavapipe) and compared
//! with the reference images in `tests/snapshots/` (the README shows
//! them); `UPDATE_SNAPSHOTS=1` rewrites those that differ. What changes
//! from run to run (dates and times, serials and keys, the PUK) is masked
//! before comparing. A failing test's window goes to `target/screenshots/`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::{Harness, SnapshotError, SnapshotOptions};
use firma_apdu::piv::{Pin, Slot};
use firma_station::ui::App;
use firma_station_engine::engine::{Config, Station};
use firma_station_engine::identity::IdentityDocument;
use firma_station_engine::inspection;
use firma_station_engine::registry::{AppKey, NewApplication};
use firma_tests::readers::{blank_card, SharedCard, VirtualReaders};
use firma_tests::station::StationDir;
use firma_vcard::card::VirtualCard;

fn station(dir: &StationDir) -> Arc<Station> {
    let config = Config {
        algorithm: firma_apdu::piv::Algorithm::EccP256,
        ..Config::default()
    };
    let station = dir.open_station("ana.operadora", "PRU València 1", config);
    let now = time::OffsetDateTime::now_utc();
    let app = |given: &str, surnames: &str, nif: &str, serial: Option<u32>| NewApplication {
        given_name: given.into(),
        surnames: surnames.into(),
        nif: nif.into(),
        email: format!("{}@example.es", nif.to_lowercase()),
        phone: "600000000".into(),
        card_serial: serial,
        requested_at: now,
        expires_at: now + time::Duration::days(90),
    };
    station
        .registry()
        .import(
            &[
                app("María José", "Núñez Ibáñez", "12345678Z", Some(5001)),
                app("Youssef", "El Amrani", "X1234567L", None),
                app("Jordi", "Ferrer Puig", "87654321X", Some(5003)),
            ],
            &station.actor,
        )
        .unwrap();
    Arc::new(station)
}

fn blank(serial: u32, keygen_ms: u64) -> VirtualCard {
    blank_card(serial, Duration::from_millis(keygen_ms))
}

fn harness(app: App) -> Harness<'static, App> {
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 900.0))
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    h.step();
    h
}

/// Steps the UI (as frames would come) until `cond` holds and the window
/// shows what the registry holds (its model's snapshot has arrived).
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
        if Instant::now() > deadline {
            screenshot(h, &format!("timeout-{}", what.replace(' ', "-")));
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn visible(h: &Harness<'static, App>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// The window as it is, for a failure's diagnosis.
fn screenshot(h: &mut Harness<'static, App>, name: &str) {
    h.step();
    let image = h.render().expect("render the window (wgpu)");
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&target).unwrap();
    image.save(target.join(format!("{name}.png"))).unwrap();
}

/// The screens compared with their reference images; a test checks them
/// all at its end, so one changed screen does not hide the others.
#[derive(Default)]
struct Snapshots(Vec<SnapshotError>);

impl Snapshots {
    /// Renders the window, masks what changes from run to run (`volatile`
    /// and [`changes_each_run`]) and compares it with
    /// `tests/snapshots/{name}.png`.
    fn compare(&mut self, h: &mut Harness<'static, App>, name: &str, volatile: &[&str]) {
        h.step();
        let masks: Vec<_> = h
            .query_all_by_label_contains("")
            .filter(|n| {
                // A label's text is its AccessKit label or its value.
                let label = format!(
                    "{} {}",
                    n.accesskit_node().label().unwrap_or_default(),
                    n.value().unwrap_or_default()
                );
                changes_each_run(&label) || volatile.iter().any(|v| label.contains(v))
            })
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
        if let Err(e) = egui_kittest::try_image_snapshot_options(&image, name, &options) {
            self.0.push(e);
        }
    }

    fn check(self) {
        let failed: Vec<String> = self.0.iter().map(|e| e.to_string()).collect();
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }
}

/// A text that is not the same from one run to the next: a date or a
/// time the station wrote (the test types only 17/05/2031), or a long hex
/// run (a serial, a key, a GUID).
fn changes_each_run(text: &str) -> bool {
    let b = text.as_bytes();
    let shaped = |w: &[u8], shape: &[u8]| {
        w.iter().zip(shape).all(|(c, s)| {
            if *s == b'9' {
                c.is_ascii_digit()
            } else {
                c == s
            }
        })
    };
    let date = b.windows(10).any(|w| {
        (shaped(w, b"9999-99-99") && w != b"2031-05-17")
            || (shaped(w, b"99/99/9999") && w != b"17/05/2031")
    });
    let clock = b.windows(8).any(|w| shaped(w, b"99:99:99"));
    let mut run = 0;
    let hex = b.iter().any(|c| {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        run >= 12
    });
    date || clock || hex
}

/// Words of the engine, the audit log and the system that must not reach
/// a Spanish or Valencian window.
const ENGLISH: &[&str] = &[
    "tries left",
    "try left",
    "loaded",
    "revoked",
    "key-compromise",
    "superseded",
    "PIN verification",
    "handed",
    "identity checked",
    "card activated",
    "application imported",
    "YYYY",
    " started",
    " failed",
    "unblock",
    "application ",
    "card ",
    "not a PIV",
    "registry",
    " the ",
    "verified",
    "until",
    "no certificate",
    "Could not",
    "No such file",
    "os error",
    "management key",
    "sealed",
    "firma-station",
    "(--",
];

/// Every label and value the window shows.
fn texts(h: &Harness<'static, App>) -> Vec<String> {
    h.query_all_by_label_contains("")
        .map(|n| {
            format!(
                "{} {}",
                n.accesskit_node().label().unwrap_or_default(),
                n.value().unwrap_or_default()
            )
        })
        .collect()
}

/// No English word of [`ENGLISH`] in the frame on show.
fn assert_no_english(h: &mut Harness<'static, App>, screen: &str) {
    h.step();
    for text in texts(h) {
        if let Some(word) = ENGLISH.iter().find(|w| text.contains(*w)) {
            screenshot(h, &format!("english-{}", screen.replace(' ', "-")));
            panic!("English {word:?} on {screen}: {text:?}");
        }
    }
}

fn type_into(h: &mut Harness<'static, App>, role: Role, label: &str, text: &str) {
    for _ in 0..3 {
        if h.query_by_role_and_label(role, label).is_some() {
            break;
        }
        h.step();
    }
    if h.query_by_role_and_label(role, label).is_none() {
        screenshot(h, &format!("missing-{}", label.replace(' ', "-")));
        let found: Vec<String> = h
            .query_all_by_role(role)
            .map(|n| format!("{:?}/{:?}", n.accesskit_node().label(), n.value()))
            .collect();
        panic!("no {role:?} labelled {label:?}; there are {found:?}");
    }
    let node = h.get_by_role_and_label(role, label);
    node.focus();
    node.type_text(text);
    h.step();
}

fn click(h: &mut Harness<'static, App>, label: &str) {
    h.get_by_label(label).scroll_to_me();
    h.step();
    h.get_by_label(label).click();
    h.step();
    // What the click changed is drawn in the next frame.
    h.step();
}

fn find_and_check_identity(h: &mut Harness<'static, App>, nif: &str) {
    type_into(h, Role::TextInput, "Buscar solicitud", nif);
    wait_for(h, "the search result", |h| visible(h, &format!("{nif} · ")));
    h.get_by_label_contains(&format!("{nif} · ")).click();
    wait_for(h, "the application", |h| {
        visible(h, "Comprobación de identidad")
    });
    type_into(h, Role::TextInput, "Número del documento", nif);
    // As the DNI prints it.
    type_into(h, Role::TextInput, "Válido hasta", "17/05/2031");
    click(
        h,
        "He visto el documento y corresponde a la persona presente",
    );
    click(h, "Registrar la comprobación");
    wait_for(h, "the identity check", |h| {
        visible(h, "Identidad comprobada y registrada.")
    });
}

/// Finding 6: the dialog on show names the citizen, their NIF, the card
/// and the reader.
fn assert_names(h: &Harness<'static, App>, name: &str, nif: &str, card: &str, reader: &str) {
    for label in ["Para:", "NIF/NIE:", "Tarjeta:", "Lector:", name, nif, card] {
        assert!(
            h.query_by_label(label).is_some(),
            "the dialog does not say {label:?}"
        );
    }
    // In the readers panel, and in the dialog.
    assert_eq!(h.query_all_by_label(reader).count(), 2, "{reader}");
}

fn enter_new_pin(h: &mut Harness<'static, App>, pin: &str) {
    wait_for(h, "the PIN dialog", |h| {
        visible(h, "El ciudadano elige su PIN")
    });
    // The citizen types at once: the first field has the focus.
    assert!(
        h.get_by_role_and_label(Role::PasswordInput, "PIN")
            .is_focused(),
        "the PIN field has the focus"
    );
    type_into(h, Role::PasswordInput, "PIN", pin);
    type_into(h, Role::PasswordInput, "Repita el PIN", pin);
    // Enter submits the dialog.
    h.key_press(egui::Key::Enter);
    h.step();
    h.step();
}

/// A printer that keeps each letter it is sent as a PDF file in `dir`,
/// as `lp -` takes it: the test reads the PUK where the citizen does.
fn capturing_printer(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("printer.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec cat > \"{}/letter-$(date +%s%N).pdf\"\n",
            dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    script.display().to_string()
}

/// The PUK in the newest letter the capturing printer took (pdftotext).
fn printed_puk(dir: &Path) -> String {
    assert!(
        std::fs::read_dir(dir).unwrap().count() >= 2,
        "the printer took no letter"
    );
    let mut letters: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    letters.sort();
    let text = firma_tests::station::pdf_text(letters.last().expect("a printed letter"));
    firma_tests::station::puk_from_letter(&text)
        .unwrap_or_else(|| panic!("no PUK in the printed letter:\n{text}"))
}

/// The PUK on none of the window's widgets (the whole AccessKit tree).
fn assert_no_puk(h: &mut Harness<'static, App>, puk: &str, screen: &str) {
    h.step();
    let spaced = format!("{} {}", &puk[..4], &puk[4..]);
    for n in h.query_all_by_label_contains("") {
        let text = format!(
            "{} {}",
            n.accesskit_node().label().unwrap_or_default(),
            n.value().unwrap_or_default()
        );
        assert!(
            !text.contains(puk) && !text.contains(&spaced),
            "the PUK is on the screen ({screen}): {text:?}"
        );
    }
}

#[test]
fn an_operator_activates_a_card_and_unblocks_its_pin() {
    let dir = StationDir::new();
    let station = station(&dir);
    let readers = VirtualReaders::new(2);
    readers.insert(0, blank(5001, 0));
    let mut app = App::new(station.clone(), readers.clone());
    app.set_print_command("firma-test-no-printer-here");
    let mut h = harness(app);
    let mut snapshots = Snapshots::default();
    wait_for(&mut h, "the blank card in the readers panel", |h| {
        visible(h, "Tarjeta en blanco")
    });
    snapshots.compare(&mut h, "1-readers-and-search", &[]);

    find_and_check_identity(&mut h, "12345678Z");
    snapshots.compare(&mut h, "2-application-identity-checked", &[]);
    click(&mut h, "Virtual Reader 0");
    click(&mut h, "Activar la tarjeta");
    enter_new_pin(&mut h, "123456");
    // A trivial PIN is refused in the dialog, with the rule.
    wait_for(&mut h, "the PIN rule", |h| {
        visible(h, "no puede ser una serie de cifras seguidas")
    });
    // The panel shows the card at work.
    wait_for(&mut h, "the card at work in the panel", |h| {
        visible(h, "Trabajando con la tarjeta")
    });
    snapshots.compare(&mut h, "3-pin-entry", &[]);
    assert_names(
        &h,
        "María José Núñez Ibáñez",
        "12345678Z",
        "5001",
        "Virtual Reader 0",
    );
    assert_no_english(&mut h, "the PIN dialog");
    // Finding 10: the last job's notice went when this one began.
    assert!(!visible(&h, "Identidad comprobada y registrada."));
    type_into(&mut h, Role::PasswordInput, "PIN", "281947");
    type_into(&mut h, Role::PasswordInput, "Repita el PIN", "281947");
    click(&mut h, "Aceptar");
    wait_for(&mut h, "the PUK letter", |h| {
        visible(h, "El PUK no se muestra en pantalla")
    });
    // The panel has looked at the card again (the letter stays on show).
    wait_for(&mut h, "the Firma card in the panel", |h| {
        visible(h, "Tarjeta Firma 5001")
    });
    snapshots.compare(&mut h, "4-puk-letter", &[]);
    assert_names(
        &h,
        "María José Núñez Ibáñez",
        "12345678Z",
        "5001",
        "Virtual Reader 0",
    );
    assert_no_english(&mut h, "the PUK letter");

    // Finding 3: no printer on this station. Said in words, and the
    // unprinted letter is not wiped without a question.
    click(&mut h, "Imprimir");
    wait_for(&mut h, "the print failure", |h| {
        visible(h, "este puesto no tiene ninguna impresora configurada")
    });
    assert_no_english(&mut h, "a failed print");
    snapshots.compare(&mut h, "9-print-failed", &[]);
    click(&mut h, "Entregada: cerrar");
    wait_for(&mut h, "the question", |h| {
        visible(
            h,
            "si la cierra sin imprimirla, el PUK se pierde para siempre",
        )
    });
    assert!(
        visible(&h, "Cerrar sin imprimir: el PUK se pierde"),
        "closing unprinted says what it costs"
    );
    click(&mut h, "Volver a la carta");
    // Finding 2: nothing said it was printed or handed over yet.
    let actions = |station: &Station| -> Vec<String> {
        station
            .registry()
            .audit_entries()
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    };
    assert!(!actions(&station).iter().any(|a| a.contains("PUK letter")));
    // A printer now: the letter goes to it, and only to it.
    let printed = tempfile::tempdir().unwrap();
    h.state_mut()
        .set_print_command(&capturing_printer(printed.path()));
    click(&mut h, "Imprimir");
    wait_for(&mut h, "the print", |h| {
        visible(h, "Enviada a la impresora.")
    });
    let puk = printed_puk(printed.path());
    let spaced = format!("{} {}", &puk[..4], &puk[4..]);
    assert_no_puk(&mut h, &puk, "the printed letter");
    // It can be printed again while it is open: the same letter.
    click(&mut h, "Imprimir otra vez");
    wait_for(&mut h, "the second print", |h| {
        visible(h, "Enviada a la impresora.") && visible(h, "Imprimir otra vez")
    });
    assert_eq!(
        printed_puk(printed.path()),
        puk,
        "the same PUK, printed again"
    );
    assert_no_puk(&mut h, &puk, "the letter printed again");
    click(&mut h, "Entregada: cerrar");
    wait_for(&mut h, "the end of the wizard", |h| {
        visible(h, "Tarjeta activada:")
    });
    assert_no_puk(&mut h, &puk, "the end of the wizard");
    let log = actions(&station);
    assert!(
        log.contains(&"PUK letter printed".to_string())
            && log.contains(&"PUK letter handed over".to_string()),
        "{log:?}"
    );
    snapshots.compare(&mut h, "5-wizard-done", &[]);
    click(&mut h, "Cerrar");

    // The card works with the citizen's PIN and holds three certificates.
    readers.with_card(0, |piv| {
        piv.verify_pin(&Pin::new("281947").unwrap()).unwrap();
        for slot in [Slot::Authentication, Slot::Signature, Slot::KeyManagement] {
            assert!(piv.read_certificate(slot).unwrap().is_some(), "{slot:?}");
        }
    });
    let app = station
        .application(&AppKey::Nif("12345678Z".into()))
        .unwrap();
    assert_eq!(app.state.as_str(), "activated");
    wait_for(&mut h, "the Firma card in the panel", |h| {
        visible(h, "Tarjeta Firma 5001")
    });

    // Inspect: the card's details, read by the reader's worker.
    // Finding 7: a panel of labelled rows, in Spanish.
    click(&mut h, "Inspeccionar la tarjeta");
    wait_for(&mut h, "the inspection", |h| {
        visible(h, "Lo que hay en la tarjeta")
    });
    for label in [
        "Número de serie",
        "5001",
        "Versión",
        "Quedan 3 intentos.",
        "Titular del certificado",
        "autenticación (9A)",
        "firma (9C)",
        "cifrado (9D)",
        "Lo que sabe el registro",
        "personalizada por este puesto",
    ] {
        assert!(visible(&h, label), "the inspection does not show {label:?}");
    }
    assert!(
        h.query_all_by_label_contains("12345678Z").count() >= 3,
        "each certificate's holder is shown"
    );
    assert_no_english(&mut h, "the inspection");
    // The reader's worker lets go of the card after reading it; the
    // snapshot shows the panel as the operator then sees it.
    wait_for(&mut h, "the reader free again", |h| {
        !visible(h, "Trabajando con la tarjeta")
    });
    snapshots.compare(&mut h, "10-inspection", &[]);
    click(&mut h, "Cerrar");

    // The citizen forgets the PIN: three wrong tries block it.
    readers.with_card(0, |piv| {
        for _ in 0..3 {
            let _ = piv.verify_pin(&Pin::new("999999").unwrap());
        }
    });
    readers.bump(0, true); // the monitor looks at the card again
    wait_for(&mut h, "the blocked PIN in the panel", |h| {
        visible(h, "PIN BLOQUEADO")
    });
    // Finding 10: a blocked PIN cannot be changed, only unblocked.
    let disabled = |h: &Harness<'static, App>, label: &str| {
        h.get_by_label(label).accesskit_node().is_disabled()
    };
    assert!(
        disabled(&h, "Cambiar el PIN"),
        "PIN change with a blocked PIN"
    );
    assert!(!disabled(&h, "Desbloquear el PIN"));
    click(&mut h, "Desbloquear el PIN");
    // Finding 4: what cannot be a PUK never reaches the card.
    let puk_tries = |readers: &VirtualReaders| {
        readers.with_card(0, |piv| {
            inspection::read_card(piv, [])
                .unwrap()
                .puk
                .map(|p| match p {
                    inspection::Reported::Known(r) => format!("{:?}", r.status),
                    inspection::Reported::NotReported => "not reported".into(),
                })
        })
    };
    assert_names(
        &h,
        "María José Núñez Ibáñez",
        "12345678Z",
        "5001",
        "Virtual Reader 0",
    );
    // The dialog is modal: another reader or tab cannot be picked under it.
    click(&mut h, "Virtual Reader 1");
    click(&mut h, "Auditoría");
    assert!(visible(&h, "Desbloquear el PIN") && !visible(&h, "Comprobar la cadena"));
    assert_names(
        &h,
        "María José Núñez Ibáñez",
        "12345678Z",
        "5001",
        "Virtual Reader 0",
    );
    let before = puk_tries(&readers);
    assert_eq!(before.as_deref(), Some("TriesLeft(3)"));
    type_into(&mut h, Role::PasswordInput, "PUK", &spaced[..8]);
    type_into(&mut h, Role::PasswordInput, "PIN nuevo", "583920");
    type_into(&mut h, Role::PasswordInput, "Repita el PIN", "583920");
    click(&mut h, "Desbloquear");
    wait_for(&mut h, "the short PUK refused", |h| {
        visible(h, "no ha gastado ningún intento")
    });
    assert_no_english(&mut h, "a PUK too short");
    assert_eq!(puk_tries(&readers), before, "the card saw no PUK");
    // The PUK as the letter prints it, "1970 7260".
    type_into(&mut h, Role::PasswordInput, "PUK", &spaced);
    type_into(&mut h, Role::PasswordInput, "PIN nuevo", "583920");
    type_into(&mut h, Role::PasswordInput, "Repita el PIN", "583920");
    snapshots.compare(&mut h, "6-unblock", &[]);
    click(&mut h, "Desbloquear");
    wait_for(&mut h, "the unblock", |h| {
        visible(h, "PIN desbloqueado y cambiado.")
    });
    readers.with_card(0, |piv| {
        piv.verify_pin(&Pin::new("583920").unwrap()).unwrap()
    });
    assert_eq!(puk_tries(&readers).as_deref(), Some("TriesLeft(3)"));

    // The audit view checks the chain; English is one click away.
    click(&mut h, "Auditoría");
    click(&mut h, "Comprobar la cadena");
    wait_for(&mut h, "the chain check", |h| {
        visible(h, "El registro de auditoría está íntegro")
    });
    wait_for(&mut h, "the unblocked card in the panel", |h| {
        visible(h, "Tarjeta Firma 5001") && !visible(h, "PIN BLOQUEADO")
    });
    // Finding 8: a table of summaries in local time, details on demand.
    assert!(visible(&h, "Hora (hora local)"));
    for summary in [
        "Solicitud importada",
        "Identidad comprobada",
        "Activación iniciada",
        "Paso hecho: Generar en la tarjeta la clave de firma (9C)",
        "Carta del PUK entregada al ciudadano",
        "Tarjeta activada",
        "PIN desbloqueado",
    ] {
        assert!(visible(&h, summary), "no {summary:?} in the audit table");
    }
    assert!(
        visible(&h, "Solicitud 1 · María José Núñez Ibáñez (12345678Z)"),
        "the entries name the citizen"
    );
    let long_hex = |h: &Harness<'static, App>| {
        texts(h).iter().any(|t| {
            let mut run = 0;
            t.bytes().any(|c| {
                run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
                run >= 40
            })
        })
    };
    assert!(!long_hex(&h), "no public key in hex on the table");
    assert_no_english(&mut h, "the audit table");
    snapshots.compare(&mut h, "7-audit", &[]);
    assert!(h.query_all_by_label("Ver detalle").count() > 5);
    type_into(&mut h, Role::TextInput, "Filtrar", "tarjeta activada");
    assert_eq!(h.query_all_by_label("Ver detalle").count(), 1);
    click(&mut h, "Ver detalle");
    assert!(visible(
        &h,
        "Detalle técnico, tal como consta en el registro:"
    ));
    // A second click on the same spot, later than a double click.
    for _ in 0..30 {
        h.step();
    }
    click(&mut h, "Ocultar detalle");
    assert!(!visible(&h, "Detalle técnico"));
    h.get_by_role_and_label(Role::TextInput, "Filtrar").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.key_press(egui::Key::Backspace);
    h.step();
    // Finding 10: the filter by NIF finds the activation's entries too.
    type_into(&mut h, Role::TextInput, "Filtrar", "12345678Z");
    assert!(
        visible(&h, "Tarjeta activada")
            && visible(&h, "Paso hecho: Cargar los certificados en la tarjeta")
    );
    assert!(!visible(&h, "Solicitud 2 ·"), "only María's entries");
    click(&mut h, "Valencià");
    wait_for(&mut h, "Valencian", |h| visible(h, "Comprovar la cadena"));
    assert!(visible(&h, "Targeta activada"));
    assert!(visible(&h, "El registre d'auditoria és íntegre"));
    assert!(
        visible(&h, "PIN desbloquejat i canviat."),
        "the notice follows the language"
    );
    assert_no_english(&mut h, "the audit table in Valencian");
    click(&mut h, "English");
    wait_for(&mut h, "English", |h| visible(h, "Check the chain"));
    // No secret reached the audit log.
    let log: String = station
        .registry()
        .audit_entries()
        .unwrap()
        .iter()
        .map(|e| format!("{} {} {}", e.action, e.subject, e.detail))
        .collect();
    for secret in ["281947", "583920", puk.as_str()] {
        assert!(!log.contains(secret), "{secret} in the audit log");
    }
    snapshots.check();
}

#[test]
fn a_card_pulled_mid_wizard_shows_the_fault_and_resumes_while_frames_keep_coming() {
    let dir = StationDir::new();
    let station = station(&dir);
    // Slow key generation, as on a real card.
    let readers = VirtualReaders::new(2);
    readers.insert(1, blank(7777, 1500));
    let mut h = harness(App::new(station.clone(), readers.clone()));
    let mut snapshots = Snapshots::default();
    find_and_check_identity(&mut h, "X1234567L");
    wait_for(&mut h, "the blank card", |h| {
        visible(h, "Tarjeta en blanco")
    });
    click(&mut h, "Virtual Reader 1");
    click(&mut h, "Activar la tarjeta");
    wait_for(&mut h, "key generation", |h| {
        visible(
            h,
            "Generar en la tarjeta la clave de autenticación (9A) (en curso)",
        )
    });
    // The window keeps drawing while the card generates a key.
    let before = h.state().frames;
    for _ in 0..20 {
        h.step();
    }
    assert!(h.state().is_working(), "the card is still working");
    assert_eq!(
        h.state().frames - before,
        20,
        "every frame came while the card worked"
    );

    // The card is pulled out.
    let card = readers.pull(1);
    wait_for(&mut h, "the fault", |h| {
        visible(h, "Se ha retirado la tarjeta")
    });
    assert!(visible(&h, "Reanudar"));
    wait_for(&mut h, "the panel to look at the readers", |h| {
        !visible(h, "Trabajando con la tarjeta") && !visible(h, "Leyendo la tarjeta")
    });
    snapshots.compare(&mut h, "8-fault-card-removed", &[]);
    assert_no_english(&mut h, "the fault");
    // Finding 10: Resume with the card still out keeps the progress.
    let progress = |h: &Harness<'static, App>| {
        h.query_all_by_label_contains(" / 16")
            .filter_map(|n| n.accesskit_node().label().map(|l| l.to_string()))
            .next()
            .unwrap_or_default()
    };
    let before = progress(&h);
    assert!(
        !before.is_empty() && !before.starts_with("0 /"),
        "{before:?}"
    );
    click(&mut h, "Reanudar");
    wait_for(&mut h, "the fault again", |h| {
        visible(h, "No hay tarjeta en el lector") || visible(h, "Se ha retirado la tarjeta")
    });
    assert_eq!(progress(&h), before, "the steps done stay done");
    // Back in; resume: what was done is not done again.
    readers.insert(1, card);
    click(&mut h, "Reanudar");
    wait_for(&mut h, "the PIN dialog", |h| {
        visible(h, "El ciudadano elige su PIN")
    });
    // Finding 10: a card pulled while the PIN dialog waits shows as gone
    // in the panel at once.
    let card = readers.pull(1);
    wait_for(&mut h, "the pulled card in the panel", |h| {
        h.query_all_by_label("Vacío").count() == 2
    });
    readers.insert(1, card);
    wait_for(&mut h, "the card back in the panel", |h| {
        visible(h, "Trabajando con la tarjeta")
    });
    enter_new_pin(&mut h, "502816");
    wait_for(&mut h, "the PUK letter", |h| {
        visible(h, "El PUK no se muestra en pantalla")
    });
    // A printer that takes the letter: printed, then handed over.
    h.state_mut().set_print_command("cat");
    click(&mut h, "Imprimir");
    wait_for(&mut h, "the print", |h| {
        visible(h, "Enviada a la impresora.")
    });
    click(&mut h, "Entregada: cerrar");
    wait_for(&mut h, "the end", |h| visible(h, "Tarjeta activada:"));
    let log: Vec<String> = station
        .registry()
        .audit_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    let at = |a: &str| log.iter().position(|x| x == a);
    assert!(
        at("activate puk-letter") < at("PUK letter printed")
            && at("PUK letter printed") < at("PUK letter handed over")
            && at("activate puk-letter").is_some(),
        "made, printed, handed over, in that order: {log:?}"
    );
    assert!(
        visible(&h, "ya hecho"),
        "steps of the first run are shown as already done"
    );
    let app = station
        .application(&AppKey::Nif("X1234567L".into()))
        .unwrap();
    assert_eq!(app.state.as_str(), "activated");
    readers.with_card(1, |piv| {
        piv.verify_pin(&Pin::new("502816").unwrap()).unwrap()
    });

    // Finding 10: revocation, a destructive action, looks like one, says
    // what it does and waits for the confirmation; then the card shows as
    // revoked, the reason in Spanish.
    click(&mut h, "Cerrar");
    wait_for(&mut h, "Youssef's application", |h| {
        visible(h, "Youssef El Amrani — X1234567L") && visible(h, "Tarjeta Firma 7777")
    });
    click(&mut h, "Revocar");
    assert_names(
        &h,
        "Youssef El Amrani",
        "X1234567L",
        "7777",
        "Virtual Reader 1",
    );
    let revoke = "Revocar los certificados";
    assert!(h.get_by_label(revoke).accesskit_node().is_disabled());
    click(&mut h, "Motivo");
    click(&mut h, "clave comprometida");
    click(&mut h, "Entiendo que la revocación no se puede deshacer");
    assert!(!h.get_by_label(revoke).accesskit_node().is_disabled());
    assert_no_english(&mut h, "the revocation");
    snapshots.compare(&mut h, "11-revoke", &[]);
    click(&mut h, revoke);
    wait_for(&mut h, "the revocation", |h| {
        visible(h, "revocado (clave comprometida)") && visible(h, "CERTIFICADOS REVOCADOS")
    });
    assert!(visible(&h, "X1234567L · Youssef El Amrani · revocada"));
    assert_no_english(&mut h, "a revoked application");
    let _ = (
        IdentityDocument::check,
        inspection::describe_card::<SharedCard>,
    );
    snapshots.check();
}

/// Finding 1: what the engine refuses is said in Spanish (and in
/// Valencian), never in the engine's English.
#[test]
fn identity_check_refusals_are_in_the_operators_language() {
    let dir = StationDir::new();
    let station = station(&dir);
    let readers = VirtualReaders::new(1);
    let mut h = harness(App::new(station, readers));
    type_into(&mut h, Role::TextInput, "Buscar solicitud", "12345678Z");
    wait_for(&mut h, "the search result", |h| visible(h, "12345678Z · "));
    h.get_by_label_contains("12345678Z · ").click();
    wait_for(&mut h, "the application", |h| {
        visible(h, "Comprobación de identidad")
    });
    type_into(&mut h, Role::TextInput, "Número del documento", "12345678A");
    type_into(&mut h, Role::TextInput, "Válido hasta", "mañana");
    click(
        &mut h,
        "He visto el documento y corresponde a la persona presente",
    );
    click(&mut h, "Registrar la comprobación");
    wait_for(&mut h, "the refusal", |h| {
        visible(h, "su letra de control debe ser Z, no A")
    });
    assert_no_english(&mut h, "a wrong control letter");
    h.get_by_role_and_label(Role::TextInput, "Número del documento")
        .focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_role_and_label(Role::TextInput, "Número del documento")
        .type_text("12345678Z");
    click(&mut h, "Registrar la comprobación");
    wait_for(&mut h, "the date refusal", |h| {
        visible(
            h,
            "Escriba la fecha de validez como en el documento, DD/MM/AAAA",
        )
    });
    assert_no_english(&mut h, "a badly written date");
    click(&mut h, "Valencià");
    wait_for(&mut h, "Valencian", |h| {
        visible(h, "Comprovació d'identitat")
    });
    assert_no_english(&mut h, "the identity check in Valencian");
    // The refusal on show follows the change of language.
    assert!(visible(
        &h,
        "Escriga la data de validesa com en el document"
    ));
    assert!(!visible(&h, "Escriba la fecha de validez"));
}

/// Findings 5 and 9: the detail shows the citizen the list shows, and the
/// day's queue stays on screen once an application is open.
#[test]
fn a_search_changes_the_detail_and_the_queue_stays() {
    let dir = StationDir::new();
    let station = station(&dir);
    let readers = VirtualReaders::new(1);
    let mut h = harness(App::new(station, readers));
    wait_for(&mut h, "the queue", |h| {
        visible(h, "Solicitudes pendientes de activar:") && visible(h, "X1234567L · ")
    });
    h.get_by_label_contains("12345678Z · ").click();
    wait_for(&mut h, "María's application", |h| {
        visible(h, "María José Núñez Ibáñez — 12345678Z")
    });
    // The queue is still there, and another application one click away.
    assert!(visible(&h, "Solicitudes pendientes de activar:"));
    assert!(visible(&h, "X1234567L · Youssef El Amrani"));
    assert!(visible(&h, "87654321X · Jordi Ferrer Puig"));

    type_into(&mut h, Role::TextInput, "Buscar solicitud", "youssef");
    wait_for(&mut h, "Youssef's application", |h| {
        visible(h, "Youssef El Amrani — X1234567L")
    });
    assert!(
        !visible(&h, "María José"),
        "nothing of María is left on screen"
    );
    // A search that leaves the open application out closes it.
    type_into(&mut h, Role::TextInput, "Buscar solicitud", " nadie");
    wait_for(&mut h, "no match", |h| {
        visible(h, "Ninguna solicitud coincide.")
    });
    assert!(!visible(&h, "Youssef El Amrani — X1234567L"));
    assert!(visible(&h, "Busque y elija una solicitud."));
    assert_no_english(&mut h, "the applications tab");
}
