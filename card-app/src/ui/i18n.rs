//! Every text of the card manager, in Spanish (the default), English and
//! Valencian, spoken to the citizen. Widgets ask [`t`] by [`Key`]; each key
//! has its three texts in one `match`, so a text missing in a language does
//! not build. The card's thread returns typed values; this file words them.

use firma_apdu::piv::PinStatus;
use firma_station_engine::pin::{PinRule, PukRule};

use crate::worker::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Es,
    En,
    Va,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Es, Lang::En, Lang::Va];

    pub fn name(self) -> &'static str {
        match self {
            Lang::Es => "Español",
            Lang::En => "English",
            Lang::Va => "Valencià",
        }
    }
}

/// Every text of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    Title,
    Language,
    Reader,
    NoReader,
    NoCard,
    NoPcsc,
    NotACitizenCard,
    BlankCard,
    Reading,
    Holder,
    Nif,
    Certificates,
    RoleAuthentication,
    RoleSignature,
    RoleEncryption,
    ValidUntil,
    Unreadable,
    RenewFrom,
    RenewOpen,
    RenewExpired,
    PinTriesMany,
    PinTriesOne,
    PinVerified,
    PinBlocked,
    PukBlocked,
    PukTriesMany,
    PukTriesOne,
    ChangePin,
    ConfirmChange,
    ConfirmUnblock,
    CurrentPin,
    CurrentPinFormat,
    NewPin,
    NewPinAgain,
    PinRules,
    PinChanged,
    WrongPinMany,
    WrongPinOne,
    Unblock,
    UnblockHint,
    Puk,
    Unblocked,
    WrongPukMany,
    WrongPukOne,
    WrongPuk,
    PinErrLength,
    PinErrDigits,
    PinErrRepeat,
    PinErrRun,
    PinErrGroup,
    PinErrPersonal,
    PinDiffer,
    PukErrLength,
    PukErrDigits,
    Browsers,
    BrowsersHint,
    BrowsersRunning,
    BrowsersDone,
    Chrome,
    FirefoxProfile,
    OtherApps,
    AlreadyThere,
    RegisterFailed,
    CardError,
    Working,
}

impl Key {
    /// The Spanish, English and Valencian texts.
    fn texts(self) -> [&'static str; 3] {
        match self {
            Key::Title => ["Mi tarjeta", "My card", "La meua targeta"],
            Key::Language => ["Idioma", "Language", "Idioma"],
            Key::Reader => ["Lector", "Reader", "Lector"],
            Key::NoReader => ["No hay ningún lector de tarjetas: conecte uno.", "There is no card reader: plug one in.", "No hi ha cap lector de targetes: connecteu-ne un."],
            Key::NoCard => ["Inserte su tarjeta en el lector.", "Insert your card in the reader.", "Inseriu la vostra targeta en el lector."],
            Key::NoPcsc => ["El servicio de tarjetas (pcscd) no está en marcha: instale el paquete firma-pkcs11, que lo trae.", "The smart card service (pcscd) is not running: install the firma-pkcs11 package, which brings it.", "El servei de targetes (pcscd) no està en marxa: instal·leu el paquet firma-pkcs11, que el porta."],
            Key::NotACitizenCard => ["Esta tarjeta no es una tarjeta de ciudadano que Firma conozca.", "This card is not a citizen's card Firma knows.", "Aquesta targeta no és una targeta de ciutadà que Firma conega."],
            Key::BlankCard => ["Esta tarjeta aún no tiene certificados: se activa en un Punto de Registro (PRU), con su documento de identidad.", "This card has no certificates yet: it is activated at a Registration Point (PRU), with your identity document.", "Aquesta targeta encara no té certificats: s'activa en un Punt de Registre (PRU), amb el vostre document d'identitat."],
            Key::Reading => ["Leyendo la tarjeta…", "Reading the card…", "Llegint la targeta…"],
            Key::Holder => ["Titular", "Holder", "Titular"],
            Key::Nif => ["NIF/NIE", "NIF/NIE", "NIF/NIE"],
            Key::Certificates => ["Sus certificados", "Your certificates", "Els vostres certificats"],
            Key::RoleAuthentication => ["Iniciar sesión en sitios web", "Log in to web sites", "Iniciar sessió en llocs web"],
            Key::RoleSignature => ["Firmar documentos (firma cualificada: pide el PIN cada vez)", "Sign documents (qualified signature: asks for the PIN each time)", "Signar documents (signatura qualificada: demana el PIN cada vegada)"],
            Key::RoleEncryption => ["Cifrar y descifrar correo", "Encrypt and decrypt e-mail", "Xifrar i desxifrar correu"],
            Key::ValidUntil => ["válido hasta el {0}", "valid until {0}", "vàlid fins al {0}"],
            Key::Unreadable => ["no se puede leer", "cannot be read", "no es pot llegir"],
            Key::RenewFrom => ["Podrá renovarlos desde el {0}: la primera vez, desde su área personal; si no, en un Punto de Registro (PRU).", "You can renew them from {0}: the first time from your personal area; otherwise at a Registration Point (PRU).", "Podreu renovar-los des del {0}: la primera vegada, des de la vostra àrea personal; si no, en un Punt de Registre (PRU)."],
            Key::RenewOpen => ["Ya puede renovarlos, antes del {0}: la primera vez, desde su área personal; si no, en un Punto de Registro (PRU).", "You can renew them now, before {0}: the first time from your personal area; otherwise at a Registration Point (PRU).", "Ja podeu renovar-los, abans del {0}: la primera vegada, des de la vostra àrea personal; si no, en un Punt de Registre (PRU)."],
            Key::RenewExpired => ["Sus certificados han caducado: renuévelos en un Punto de Registro (PRU).", "Your certificates have expired: renew them at a Registration Point (PRU).", "Els vostres certificats han caducat: renoveu-los en un Punt de Registre (PRU)."],
            Key::PinTriesMany => ["PIN: le quedan {0} intentos.", "PIN: {0} tries left.", "PIN: vos queden {0} intents."],
            Key::PinTriesOne => ["PIN: le queda 1 intento. Si falla, se bloqueará.", "PIN: 1 try left. If it fails, the PIN blocks.", "PIN: vos queda 1 intent. Si falla, es bloquejarà."],
            Key::PinVerified => ["PIN: correcto.", "PIN: correct.", "PIN: correcte."],
            Key::PinBlocked => ["Su PIN está bloqueado: desbloquéelo con el PUK de su carta.", "Your PIN is blocked: unblock it with the PUK from your letter.", "El vostre PIN està bloquejat: desbloquegeu-lo amb el PUK de la vostra carta."],
            Key::PukBlocked => ["Su PUK está bloqueado: la tarjeta ya no se puede desbloquear aquí. Acuda a un Punto de Registro (PRU) con su documento de identidad.", "Your PUK is blocked: the card cannot be unblocked here any more. Go to a Registration Point (PRU) with your identity document.", "El vostre PUK està bloquejat: la targeta ja no es pot desbloquejar ací. Aneu a un Punt de Registre (PRU) amb el vostre document d'identitat."],
            Key::PukTriesMany => ["PUK: le quedan {0} intentos.", "PUK: {0} tries left.", "PUK: vos queden {0} intents."],
            Key::PukTriesOne => ["PUK: le queda 1 intento. Si falla, tendrá que ir a un Punto de Registro (PRU).", "PUK: 1 try left. If it fails, you will have to go to a Registration Point (PRU).", "PUK: vos queda 1 intent. Si falla, haureu d'anar a un Punt de Registre (PRU)."],
            Key::ChangePin => ["Cambiar el PIN", "Change the PIN", "Canviar el PIN"],
            Key::ConfirmChange => ["Cambiar", "Change", "Canviar"],
            Key::ConfirmUnblock => ["Desbloquear", "Unblock", "Desbloquejar"],
            Key::CurrentPin => ["PIN actual", "Current PIN", "PIN actual"],
            Key::CurrentPinFormat => ["El PIN actual tiene de 6 a 8 cifras: escríbalo otra vez.", "The current PIN has 6 to 8 digits: type it again.", "El PIN actual té de 6 a 8 xifres: escriviu-lo una altra vegada."],
            Key::NewPin => ["PIN nuevo", "New PIN", "PIN nou"],
            Key::NewPinAgain => ["Repita el PIN nuevo", "New PIN again", "Repetiu el PIN nou"],
            Key::PinRules => ["El PIN nuevo: de 6 a 8 cifras; ni una serie (123456), ni una cifra repetida (000000), ni un grupo repetido (121212). No lo apunte junto a la tarjeta.", "The new PIN: 6 to 8 digits; not a run (123456), one digit repeated (000000) or a repeated group (121212). Do not write it down next to the card.", "El PIN nou: de 6 a 8 xifres; ni una sèrie (123456), ni una xifra repetida (000000), ni un grup repetit (121212). No l'apunteu al costat de la targeta."],
            Key::PinChanged => ["PIN cambiado. Use el nuevo a partir de ahora.", "PIN changed. Use the new one from now on.", "PIN canviat. Useu el nou a partir d'ara."],
            Key::WrongPinMany => ["PIN actual incorrecto: le quedan {0} intentos.", "Current PIN incorrect: {0} tries left.", "PIN actual incorrecte: vos queden {0} intents."],
            Key::WrongPinOne => ["PIN actual incorrecto: le queda 1 intento.", "Current PIN incorrect: 1 try left.", "PIN actual incorrecte: vos queda 1 intent."],
            Key::Unblock => ["Desbloquear el PIN con el PUK", "Unblock the PIN with the PUK", "Desbloquejar el PIN amb el PUK"],
            Key::UnblockHint => ["¿Ha olvidado el PIN, o está bloqueado? Escriba el PUK de la carta que le dieron en el Punto de Registro y elija un PIN nuevo.", "Forgot the PIN, or is it blocked? Type the PUK from the letter you were given at the Registration Point and choose a new PIN.", "Heu oblidat el PIN, o està bloquejat? Escriviu el PUK de la carta que vos van donar en el Punt de Registre i trieu un PIN nou."],
            Key::Puk => ["PUK (de su carta)", "PUK (from your letter)", "PUK (de la vostra carta)"],
            Key::Unblocked => ["PIN desbloqueado. Use el nuevo a partir de ahora.", "PIN unblocked. Use the new one from now on.", "PIN desbloquejat. Useu el nou a partir d'ara."],
            Key::WrongPukMany => ["PUK incorrecto: le quedan {0} intentos.", "PUK incorrect: {0} tries left.", "PUK incorrecte: vos queden {0} intents."],
            Key::WrongPukOne => ["PUK incorrecto: le queda 1 intento. Si falla, tendrá que ir a un Punto de Registro (PRU).", "PUK incorrect: 1 try left. If it fails, you will have to go to a Registration Point (PRU).", "PUK incorrecte: vos queda 1 intent. Si falla, haureu d'anar a un Punt de Registre (PRU)."],
            Key::WrongPuk => ["PUK incorrecto.", "PUK incorrect.", "PUK incorrecte."],
            Key::PinErrLength => ["El PIN nuevo debe tener de 6 a 8 cifras.", "The new PIN needs 6 to 8 digits.", "El PIN nou ha de tindre de 6 a 8 xifres."],
            Key::PinErrDigits => ["El PIN solo puede tener cifras.", "The PIN may only hold digits.", "El PIN només pot tindre xifres."],
            Key::PinErrRepeat => ["El PIN nuevo no puede repetir una sola cifra (como 000000).", "The new PIN may not repeat one digit (like 000000).", "El PIN nou no pot repetir una sola xifra (com 000000)."],
            Key::PinErrRun => ["El PIN nuevo no puede ser una serie de cifras seguidas (como 123456).", "The new PIN may not be a run of consecutive digits (like 123456).", "El PIN nou no pot ser una sèrie de xifres seguides (com 123456)."],
            Key::PinErrGroup => ["El PIN nuevo no puede repetir un grupo de cifras (como 121212).", "The new PIN may not repeat a group of digits (like 121212).", "El PIN nou no pot repetir un grup de xifres (com 121212)."],
            Key::PinErrPersonal => ["El PIN nuevo no puede salir de su DNI/NIE ni de una fecha de su documento.", "The new PIN may not come from your DNI/NIE or a date on your document.", "El PIN nou no pot eixir del seu DNI/NIE ni d'una data del seu document."],
            Key::PinDiffer => ["Los dos PIN nuevos no coinciden: escríbalos otra vez.", "The two new PINs differ: type them again.", "Els dos PIN nous no coincideixen: escriviu-los una altra vegada."],
            Key::PukErrLength => ["El PUK tiene las 8 cifras impresas en su carta.", "The PUK has the 8 digits printed in your letter.", "El PUK té les 8 xifres impreses en la vostra carta."],
            Key::PukErrDigits => ["El PUK solo tiene cifras (puede escribir o no el espacio de la carta).", "The PUK has digits only (the space of the letter may be typed or not).", "El PUK només té xifres (podeu escriure o no l'espai de la carta)."],
            Key::Browsers => ["Usar mi tarjeta en Firefox y Chrome", "Use my card in Firefox and Chrome", "Usar la meua targeta en Firefox i Chrome"],
            Key::BrowsersHint => ["Cierre Firefox y Chrome antes de pulsar: leen la tarjeta al abrirse.", "Close Firefox and Chrome before pressing: they look for the card when they start.", "Tanqueu Firefox i Chrome abans de prémer: busquen la targeta en obrir-se."],
            Key::BrowsersRunning => ["Firefox o Chrome siguen abiertos: ciérrelos y vuelva a pulsar.", "Firefox or Chrome is still open: close it and press again.", "Firefox o Chrome continuen oberts: tanqueu-los i torneu a prémer."],
            Key::BrowsersDone => ["Hecho. Abra Firefox o Chrome con la tarjeta en el lector: le pedirán el PIN al iniciar sesión.", "Done. Open Firefox or Chrome with the card in the reader: they will ask for the PIN when you log in.", "Fet. Obriu Firefox o Chrome amb la targeta en el lector: vos demanaran el PIN en iniciar sessió."],
            Key::Chrome => ["Chrome y Chromium", "Chrome and Chromium", "Chrome i Chromium"],
            Key::FirefoxProfile => ["Firefox (perfil {0})", "Firefox (profile {0})", "Firefox (perfil {0})"],
            Key::OtherApps => ["Otras aplicaciones (p11-kit)", "Other applications (p11-kit)", "Altres aplicacions (p11-kit)"],
            Key::AlreadyThere => ["ya estaba", "already there", "ja hi era"],
            Key::RegisterFailed => ["No se pudo: {0}", "It did not work: {0}", "No s'ha pogut: {0}"],
            Key::CardError => ["La tarjeta respondió con un error ({0}). Sáquela, vuelva a insertarla e inténtelo de nuevo.", "The card answered with an error ({0}). Take it out, insert it again and retry.", "La targeta ha respost amb un error ({0}). Traieu-la, torneu a inserir-la i torneu-ho a provar."],
            Key::Working => ["Un momento, no saque la tarjeta…", "One moment, do not take the card out…", "Un moment, no traieu la targeta…"],
        }
    }
}

/// The text of `key` in `lang`.
pub fn t(lang: Lang, key: Key) -> &'static str {
    let [es, en, va] = key.texts();
    match lang {
        Lang::Es => es,
        Lang::En => en,
        Lang::Va => va,
    }
}

/// The text of `key` with `{0}`… filled in from `args`.
pub fn tf(lang: Lang, key: Key, args: &[&dyn std::fmt::Display]) -> String {
    let mut text = t(lang, key).to_string();
    for (i, a) in args.iter().enumerate() {
        text = text.replace(&format!("{{{i}}}"), &a.to_string());
    }
    text
}

/// A date as Spanish documents print it (17/05/2031).
pub fn date(d: time::Date) -> String {
    format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())
}

fn count(lang: Lang, n: u8, one: Key, many: Key) -> String {
    if n == 1 {
        t(lang, one).into()
    } else {
        tf(lang, many, &[&n])
    }
}

/// The PIN's state in words.
pub fn pin_status(lang: Lang, s: PinStatus) -> String {
    match s {
        PinStatus::Verified => t(lang, Key::PinVerified).into(),
        PinStatus::TriesLeft(n) => count(lang, n, Key::PinTriesOne, Key::PinTriesMany),
        PinStatus::Blocked => t(lang, Key::PinBlocked).into(),
    }
}

/// The PUK's state in words; nothing while it has all its tries.
pub fn puk_status(lang: Lang, s: PinStatus) -> Option<String> {
    match s {
        PinStatus::Blocked | PinStatus::TriesLeft(0) => Some(t(lang, Key::PukBlocked).into()),
        PinStatus::TriesLeft(n @ 1..=2) => {
            Some(count(lang, n, Key::PukTriesOne, Key::PukTriesMany))
        }
        _ => None,
    }
}

/// Why a new PIN is refused.
pub fn pin_rule(lang: Lang, rule: PinRule) -> &'static str {
    t(
        lang,
        match rule {
            PinRule::Length(_) => Key::PinErrLength,
            PinRule::NotDigits => Key::PinErrDigits,
            PinRule::OneDigit => Key::PinErrRepeat,
            PinRule::Run => Key::PinErrRun,
            PinRule::RepeatedGroup => Key::PinErrGroup,
            PinRule::Personal => Key::PinErrPersonal,
            PinRule::TypedTwiceDifferently => Key::PinDiffer,
        },
    )
}

/// Why what was typed cannot be a PUK (no try is spent).
pub fn puk_rule(lang: Lang, rule: PukRule) -> &'static str {
    t(
        lang,
        match rule {
            PukRule::Length(_) => Key::PukErrLength,
            PukRule::NotDigits => Key::PukErrDigits,
        },
    )
}

/// A card operation that did not happen, in words.
pub fn problem(lang: Lang, p: &Problem) -> String {
    match p {
        Problem::NoCard => t(lang, Key::NoCard).into(),
        Problem::NoPcsc => t(lang, Key::NoPcsc).into(),
        Problem::WrongPin { tries_left } => {
            count(lang, *tries_left, Key::WrongPinOne, Key::WrongPinMany)
        }
        Problem::PinBlocked => t(lang, Key::PinBlocked).into(),
        Problem::WrongPuk {
            tries_left: Some(n),
        } => count(lang, *n, Key::WrongPukOne, Key::WrongPukMany),
        Problem::WrongPuk { tries_left: None } => t(lang, Key::WrongPuk).into(),
        Problem::PukBlocked => t(lang, Key::PukBlocked).into(),
        Problem::NotACitizenCard => t(lang, Key::NotACitizenCard).into(),
        Problem::Other(detail) => tf(lang, Key::CardError, &[detail]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_its_own_words_for_the_card() {
        for key in [
            Key::PinBlocked,
            Key::PukBlocked,
            Key::ChangePin,
            Key::Browsers,
        ] {
            let [es, en, va] = key.texts();
            assert!(es != en && en != va && es != va, "{key:?}");
        }
        assert_eq!(
            pin_status(Lang::Es, PinStatus::TriesLeft(2)),
            "PIN: le quedan 2 intentos."
        );
        assert_eq!(
            pin_status(Lang::En, PinStatus::TriesLeft(1)),
            "PIN: 1 try left. If it fails, the PIN blocks."
        );
        assert_eq!(puk_status(Lang::Va, PinStatus::TriesLeft(3)), None);
    }
}
