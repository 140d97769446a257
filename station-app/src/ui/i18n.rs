//! Every operator-facing text of the window, in Spanish (the default),
//! English and Valencian. Widgets ask [`t`] by key; nothing is written in
//! the widgets themselves. A key missing from the table shows as the key.

use firma_station_engine::activation::{CardNote, Step};
use firma_station_engine::error::StationError;
use firma_station_engine::pin::PinRule;
use firma_station_engine::profile::Profile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Es,
    En,
    Va,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Es => "Español",
            Lang::En => "English",
            Lang::Va => "Valencià",
        }
    }
}

/// (key, Spanish, English, Valencian)
const TEXTS: &[(&str, &str, &str, &str)] = &[
    ("close", "Cerrar", "Close", "Tancar"),
    (
        "note_no_retry_setting",
        "Esta tarjeta no permite fijar el número de intentos del PIN y del PUK: conserva los suyos de fábrica.",
        "This card cannot set the number of PIN and PUK tries: it keeps its factory ones.",
        "Esta targeta no permet fixar el nombre d'intents del PIN i del PUK: conserva els seus de fàbrica.",
    ),
    ("dismiss", "Ocultar aviso", "Dismiss", "Amagar l'avís"),
    ("tab_applications", "Solicitudes", "Applications", "Sol·licituds"),
    ("tab_audit", "Auditoría", "Audit log", "Auditoria"),
    ("operator", "Operador", "Operator", "Operador"),
    ("station", "Puesto", "Station", "Lloc"),
    ("language", "Idioma", "Language", "Idioma"),
    ("readers", "Lectores", "Readers", "Lectors"),
    ("no_readers", "No hay ningún lector conectado.", "No reader is connected.", "No hi ha cap lector connectat."),
    ("select_reader", "Trabajar con este lector", "Work with this reader", "Treballar amb este lector"),
    ("reader_looking", "Leyendo la tarjeta…", "Reading the card…", "Llegint la targeta…"),
    ("reader_working", "Trabajando con la tarjeta…", "Working with the card…", "Treballant amb la targeta…"),
    ("reader_empty", "Vacío", "Empty", "Buit"),
    ("reader_blank", "Tarjeta en blanco", "Blank card", "Targeta en blanc"),
    ("serial", "n.º", "no.", "núm."),
    ("reader_firma", "Tarjeta Firma", "Firma card", "Targeta Firma"),
    ("expires", "Caduca el", "Expires on", "Caduca el"),
    ("reader_unfinished", "Activación sin terminar", "Unfinished activation", "Activació sense acabar"),
    ("reader_pin_blocked", "PIN BLOQUEADO", "PIN BLOCKED", "PIN BLOQUEJAT"),
    ("reader_unknown", "Tarjeta desconocida", "Unknown card", "Targeta desconeguda"),
    ("search", "Buscar solicitud", "Find application", "Buscar sol·licitud"),
    ("search_hint", "NIF/NIE o nombre", "NIF/NIE or name", "NIF/NIE o nom"),
    ("waiting_applications", "Solicitudes pendientes de activar:", "Applications waiting for their card:", "Sol·licituds pendents d'activar:"),
    ("no_match", "Ninguna solicitud coincide.", "No application matches.", "Cap sol·licitud coincidix."),
    ("pick_application", "Busque y elija una solicitud.", "Find and pick an application.", "Busque i trie una sol·licitud."),
    ("state_requested", "solicitada", "requested", "sol·licitada"),
    ("state_activated", "activada", "activated", "activada"),
    ("state_renewed", "renovada", "renewed", "renovada"),
    ("state_revoked", "revocada", "revoked", "revocada"),
    ("state_expired", "caducada", "expired", "caducada"),
    ("application", "Solicitud", "Application", "Sol·licitud"),
    ("state", "Estado", "State", "Estat"),
    ("email", "Correo electrónico", "E-mail", "Correu electrònic"),
    ("phone", "Teléfono", "Phone", "Telèfon"),
    ("mailed_card", "Tarjeta enviada", "Mailed card", "Targeta enviada"),
    ("unknown", "desconocida", "unknown", "desconeguda"),
    ("requested", "Solicitada el", "Requested on", "Sol·licitada el"),
    ("identity", "Comprobación de identidad", "Identity check", "Comprovació d'identitat"),
    ("valid_until", "válido hasta", "valid until", "vàlid fins"),
    ("checked_by", "comprobado por", "checked by", "comprovat per"),
    ("actions", "Acciones", "Actions", "Accions"),
    ("need_identity", "Compruebe antes la identidad del ciudadano.", "Check the citizen's identity first.", "Comprove abans la identitat del ciutadà."),
    ("need_blank_card", "Inserte la tarjeta en blanco del ciudadano y elija su lector.", "Insert the citizen's blank card and pick its reader.", "Inserisca la targeta en blanc del ciutadà i trie el seu lector."),
    ("activate", "Activar la tarjeta", "Activate the card", "Activar la targeta"),
    ("need_citizen_card", "Inserte la tarjeta del ciudadano y elija su lector.", "Insert the citizen's card and pick its reader.", "Inserisca la targeta del ciutadà i trie el seu lector."),
    ("unblock", "Desbloquear el PIN", "Unblock the PIN", "Desbloquejar el PIN"),
    ("change_pin", "Cambiar el PIN", "Change the PIN", "Canviar el PIN"),
    ("reset_card", "Reiniciar la tarjeta para reemitirla", "Reset the card for re-issue", "Reiniciar la targeta per a reemetre-la"),
    ("renew", "Renovar los certificados", "Renew the certificates", "Renovar els certificats"),
    ("renew_opens", "La renovación se abre el", "Renewal opens on", "La renovació s'obri el"),
    ("revoke", "Revocar", "Revoke", "Revocar"),
    ("inspect", "Inspeccionar la tarjeta", "Inspect the card", "Inspeccionar la targeta"),
    ("apply_again", "El ciudadano debe solicitar de nuevo.", "The citizen must apply again.", "El ciutadà ha de sol·licitar de nou."),
    ("certificates", "Certificados", "Certificates", "Certificats"),
    ("history", "Historial", "History", "Historial"),
    ("document_kind", "Tipo de documento", "Document type", "Tipus de document"),
    ("document_number", "Número del documento", "Document number", "Número del document"),
    ("support_number", "Número de soporte", "Support number", "Número de suport"),
    ("document_expires", "Válido hasta (AAAA-MM-DD)", "Valid until (YYYY-MM-DD)", "Vàlid fins (AAAA-MM-DD)"),
    ("seen_document", "He visto el documento y corresponde a la persona presente", "I saw the document and it shows the person present", "He vist el document i correspon a la persona present"),
    ("record_identity", "Registrar la comprobación", "Record the check", "Registrar la comprovació"),
    ("identity_recorded", "Identidad comprobada y registrada.", "Identity checked and recorded.", "Identitat comprovada i registrada."),
    ("wizard_activate", "Activación de la tarjeta", "Card activation", "Activació de la targeta"),
    ("wizard_renew", "Renovación de los certificados", "Certificate renewal", "Renovació dels certificats"),
    ("reader", "Lector", "Reader", "Lector"),
    ("already_done", "ya hecho", "already done", "ja fet"),
    ("in_progress", "en curso", "in progress", "en curs"),
    ("step_failed", "detenido aquí", "stopped here", "detingut ací"),
    ("stopped", "La activación se ha detenido", "The activation stopped", "L'activació s'ha detingut"),
    ("resume_hint", "Corrija lo indicado y pulse Reanudar: lo ya hecho no se repite.", "Fix what is said and press Resume: what was done is not done again.", "Corregisca el que s'indica i polse Reprendre: el que ja s'ha fet no es repetix."),
    ("resume", "Reanudar", "Resume", "Reprendre"),
    ("card_ready", "Tarjeta activada:", "Card activated:", "Targeta activada:"),
    ("pin_choose", "El ciudadano elige su PIN", "The citizen chooses a PIN", "El ciutadà tria el seu PIN"),
    ("pin_current", "El ciudadano escribe su PIN", "The citizen types their PIN", "El ciutadà escriu el seu PIN"),
    ("pin_rules", "Entre 6 y 8 cifras. No valen series (123456), cifras repetidas (000000) ni grupos repetidos (123123). Nadie más debe verlo.", "6 to 8 digits. Not a run (123456), one digit repeated (000000) or a repeated group (123123). Nobody else should see it.", "Entre 6 i 8 xifres. No valen sèries (123456), xifres repetides (000000) ni grups repetits (123123). Ningú més l'ha de vore."),
    ("pin", "PIN", "PIN", "PIN"),
    ("pin_again", "Repita el PIN", "PIN again", "Repetisca el PIN"),
    ("pin_confirm", "Aceptar", "OK", "Acceptar"),
    ("cancel", "Cancelar", "Cancel", "Cancel·lar"),
    ("pin_differ", "Los dos PIN no coinciden: escríbalos de nuevo.", "The two PINs differ: type them again.", "Els dos PIN no coincidixen: escriga'ls de nou."),
    ("letter_title", "Carta del PUK", "PUK letter", "Carta del PUK"),
    ("letter_hint", "Imprímala y entréguela al ciudadano. No se guarda en ningún sitio.", "Print it and hand it to the citizen. It is not kept anywhere.", "Imprimisca-la i entregue-la al ciutadà. No es guarda en cap lloc."),
    ("print", "Imprimir", "Print", "Imprimir"),
    ("printed", "Enviada a la impresora.", "Sent to the printer.", "Enviada a la impressora."),
    ("print_failed", "No se pudo imprimir", "Could not print", "No s'ha pogut imprimir"),
    ("letter_done", "Entregada: cerrar", "Handed over: close", "Entregada: tancar"),
    ("puk", "PUK", "PUK", "PUK"),
    ("pin_current_field", "PIN actual", "Current PIN", "PIN actual"),
    ("pin_new", "PIN nuevo", "New PIN", "PIN nou"),
    ("reason", "Motivo", "Reason", "Motiu"),
    ("confirm_revoke", "Entiendo que la revocación no se puede deshacer", "I understand revocation cannot be undone", "Entenc que la revocació no es pot desfer"),
    ("confirm_reset", "Entiendo que se borran las claves y se revocan los certificados", "I understand the keys are erased and the certificates revoked", "Entenc que s'esborren les claus i es revoquen els certificats"),
    ("do_it", "Hacerlo", "Do it", "Fer-ho"),
    ("unblocked", "PIN desbloqueado y cambiado.", "PIN unblocked and changed.", "PIN desbloquejat i canviat."),
    ("pin_changed", "PIN cambiado.", "PIN changed.", "PIN canviat."),
    ("reset_done", "Tarjeta reiniciada, lista para reemitir", "Card reset, ready for re-issue", "Targeta reiniciada, preparada per a reemetre"),
    ("revoked", "Certificados revocados", "Certificates revoked", "Certificats revocats"),
    ("filter", "Filtrar", "Filter", "Filtrar"),
    ("verify_chain", "Comprobar la cadena", "Check the chain", "Comprovar la cadena"),
    ("chain_ok", "El registro de auditoría está íntegro", "The audit log is intact", "El registre d'auditoria és íntegre"),
    ("chain_broken", "EL REGISTRO DE AUDITORÍA HA SIDO ALTERADO", "THE AUDIT LOG WAS TAMPERED WITH", "EL REGISTRE D'AUDITORIA HA SIGUT ALTERAT"),
    ("seq", "N.º", "No.", "Núm."),
    ("time", "Hora", "Time", "Hora"),
    ("who", "Quién", "Who", "Qui"),
    ("action", "Acción", "Action", "Acció"),
    ("detail", "Detalle", "Detail", "Detall"),
    ("step_check", "Comprobar la tarjeta", "Check the card", "Comprovar la targeta"),
    ("step_auth", "Autenticarse con la tarjeta", "Authenticate to the card", "Autenticar-se amb la targeta"),
    ("step_chuid", "Escribir los identificadores (CHUID, CCC)", "Write the identifiers (CHUID, CCC)", "Escriure els identificadors (CHUID, CCC)"),
    ("step_generate", "Generar en la tarjeta la clave de", "Generate on the card the key for", "Generar en la targeta la clau de"),
    ("step_pinpuk", "PIN del ciudadano y nuevo PUK", "The citizen's PIN and a new PUK", "PIN del ciutadà i nou PUK"),
    ("step_issue", "Emitir el certificado de", "Issue the certificate for", "Emetre el certificat de"),
    ("step_checkcerts", "Comprobar los certificados con las claves", "Check the certificates against the keys", "Comprovar els certificats amb les claus"),
    ("step_load", "Cargar los certificados en la tarjeta", "Load the certificates onto the card", "Carregar els certificats en la targeta"),
    ("step_mgm", "Sustituir la clave de administración", "Replace the management key", "Substituir la clau d'administració"),
    ("step_selftest", "Probar cada clave con una firma", "Test each key with a signature", "Provar cada clau amb una signatura"),
    ("step_letter", "Carta del PUK", "PUK letter", "Carta del PUK"),
    ("step_finish", "Registrar la activación", "Record the activation", "Registrar l'activació"),
    ("profile_auth", "autenticación (9A)", "authentication (9A)", "autenticació (9A)"),
    ("profile_sign", "firma (9C)", "signature (9C)", "signatura (9C)"),
    ("profile_keymgmt", "cifrado (9D)", "encryption (9D)", "xifratge (9D)"),
    ("pin_err_length", "El PIN debe tener entre 6 y 8 cifras.", "The PIN needs 6 to 8 digits.", "El PIN ha de tindre entre 6 i 8 xifres."),
    ("pin_err_digits", "El PIN solo puede tener cifras.", "The PIN may only hold digits.", "El PIN només pot tindre xifres."),
    ("pin_err_repeat", "El PIN no puede repetir una sola cifra (como 000000).", "The PIN may not repeat one digit (like 000000).", "El PIN no pot repetir una sola xifra (com 000000)."),
    ("pin_err_run", "El PIN no puede ser una serie de cifras seguidas (como 123456).", "The PIN may not be a run of consecutive digits (like 123456).", "El PIN no pot ser una sèrie de xifres seguides (com 123456)."),
    ("pin_err_group", "El PIN no puede repetir un grupo de cifras (como 123123).", "The PIN may not repeat a group of digits (like 123123).", "El PIN no pot repetir un grup de xifres (com 123123)."),
    ("err_removed", "Se ha retirado la tarjeta durante el paso", "The card was removed during", "S'ha retirat la targeta durant el pas"),
    ("err_removed_do", "Vuelva a insertarla y pulse Reanudar.", "Insert it again and press Resume.", "Torne a inserir-la i polse Reprendre."),
    ("err_no_card", "No hay tarjeta en el lector: insértela.", "No card in the reader: insert it.", "No hi ha targeta en el lector: inserisca-la."),
    ("err_wrong_card", "Tarjeta equivocada: esta es la", "Wrong card: this is card", "Targeta equivocada: esta és la"),
    ("err_wrong_card_do", "y la enviada al ciudadano es la", "and the citizen was mailed card", "i l'enviada al ciutadà és la"),
];

/// The text of `key` in `lang`.
pub fn t(lang: Lang, key: &'static str) -> &'static str {
    match TEXTS.iter().find(|(k, ..)| *k == key) {
        Some((_, es, en, va)) => match lang {
            Lang::Es => es,
            Lang::En => en,
            Lang::Va => va,
        },
        None => key,
    }
}

fn profile(lang: Lang, p: Profile) -> &'static str {
    t(
        lang,
        match p {
            Profile::Authentication => "profile_auth",
            Profile::Signature => "profile_sign",
            Profile::KeyManagement => "profile_keymgmt",
        },
    )
}

/// What a card lacks, as the operator reads it.
pub fn card_note(lang: Lang, note: CardNote) -> &'static str {
    match note {
        CardNote::NoRetrySetting => t(lang, "note_no_retry_setting"),
    }
}

/// A workflow step, for the wizard's list.
pub fn step(lang: Lang, s: Step) -> String {
    match s {
        Step::CheckCard => t(lang, "step_check").into(),
        Step::Authenticate => t(lang, "step_auth").into(),
        Step::ChuidCcc => t(lang, "step_chuid").into(),
        Step::Generate(p) => format!("{} {}", t(lang, "step_generate"), profile(lang, p)),
        Step::PinPuk => t(lang, "step_pinpuk").into(),
        Step::Issue(p) => format!("{} {}", t(lang, "step_issue"), profile(lang, p)),
        Step::CheckCertificates => t(lang, "step_checkcerts").into(),
        Step::LoadCertificates => t(lang, "step_load").into(),
        Step::ManagementKey => t(lang, "step_mgm").into(),
        Step::SelfTest => t(lang, "step_selftest").into(),
        Step::PukLetter => t(lang, "step_letter").into(),
        Step::Finish => t(lang, "step_finish").into(),
    }
}

/// Why a new PIN is refused, in the operator's language.
pub fn pin_rule(lang: Lang, rule: PinRule) -> &'static str {
    t(
        lang,
        match rule {
            PinRule::Length(_) => "pin_err_length",
            PinRule::NotDigits => "pin_err_digits",
            PinRule::OneDigit => "pin_err_repeat",
            PinRule::Run => "pin_err_run",
            PinRule::RepeatedGroup => "pin_err_group",
            PinRule::TypedTwiceDifferently => "pin_differ",
        },
    )
}

/// An engine error for the operator: the common ones in the operator's
/// language; the others with the engine's own (English) explanation.
pub fn error(lang: Lang, e: &StationError) -> String {
    match e {
        StationError::CardRemoved { step } => {
            format!(
                "{} «{step}». {}",
                t(lang, "err_removed"),
                t(lang, "err_removed_do")
            )
        }
        StationError::NoCard(_) => t(lang, "err_no_card").into(),
        StationError::WrongCard {
            expected, found, ..
        } => format!(
            "{} {found} {} {expected}.",
            t(lang, "err_wrong_card"),
            t(lang, "err_wrong_card_do")
        ),
        StationError::PinRule(rule) => pin_rule(lang, *rule).into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_three_languages_and_no_key_repeats() {
        let mut keys = std::collections::HashSet::new();
        for (k, es, en, va) in TEXTS {
            assert!(keys.insert(*k), "{k} twice");
            assert!(!es.is_empty() && !en.is_empty() && !va.is_empty(), "{k}");
        }
    }

    #[test]
    fn every_pin_rule_is_said_in_the_operators_language() {
        for pin in ["12345", "12a456", "000000", "123456", "123123"] {
            let e = StationError::from(firma_station_engine::pin::check_new_pin(pin).unwrap_err());
            let es = error(Lang::Es, &e);
            assert!(es.starts_with("El PIN"), "{pin}: {es}");
            assert_ne!(es, error(Lang::En, &e));
        }
    }

    #[test]
    fn every_key_the_window_uses_is_translated() {
        let source = include_str!("mod.rs");
        let mut missing = Vec::new();
        for part in source
            .split("t(lang, \"")
            .skip(1)
            .chain(source.split("self.tr(\"").skip(1))
        {
            let key = part.split('"').next().unwrap_or("");
            if !TEXTS.iter().any(|(k, ..)| *k == key) {
                missing.push(key.to_string());
            }
        }
        assert!(missing.is_empty(), "untranslated keys: {missing:?}");
    }
}
