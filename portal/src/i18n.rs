//! The portal's words in Spanish, English and Valencian: one `enum` of
//! texts and one array per text, so a missing translation is a build error.

/// A page's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Es,
    En,
    Va,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Es, Lang::En, Lang::Va];

    /// The `lang` query parameter's value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
            Lang::Va => "va",
        }
    }

    /// The HTML `lang` attribute (BCP 47: Valencian is a variant of Catalan).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
            Lang::Va => "ca-ES-valencia",
        }
    }

    /// The language's own name, for the switcher.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Es => "Español",
            Lang::En => "English",
            Lang::Va => "Valencià",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The first language of an `Accept-Language` header the portal
    /// speaks; Spanish when none is.
    pub fn from_accept_language(header: &str) -> Lang {
        header
            .split(',')
            .filter_map(|part| part.split(';').next())
            .map(|tag| tag.trim().to_ascii_lowercase())
            .find_map(|tag| match tag.as_str() {
                t if t.starts_with("es") => Some(Lang::Es),
                t if t.starts_with("en") => Some(Lang::En),
                t if t.starts_with("ca") || t.starts_with("va") => Some(Lang::Va),
                _ => None,
            })
            .unwrap_or(Lang::Es)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Every text the portal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Title,
    Intro,
    Nif,
    NifHint,
    Code,
    CodeHint,
    Password,
    PasswordAgain,
    PasswordHint,
    KeyKind,
    KeyP256,
    KeyRsa,
    Submit,
    AfterDownload,
    Refused,
    TooMany,
    PasswordShort,
    PasswordLong,
    PasswordMismatch,
    FormExpired,
    BadRequest,
    Unavailable,
    NotFound,
    BackToForm,
    BrowserWay,
    BrowserIntro,
    BrowserNeedsScript,
    BrowserWorking,
    BrowserDone,
    BrowserFailed,
    BadCertificateRequest,
}

impl Key {
    pub fn text(self, lang: Lang) -> &'static str {
        let t: [&'static str; 3] = match self {
            Key::Title => [
                "Obtener su certificado de software",
                "Get your software certificate",
                "Obtindre el seu certificat de programari",
            ],
            Key::Intro => [
                "Escriba su NIF o NIE y el Código de Generación que le dieron en su Punto de Registro (en papel o por SMS), y elija una contraseña para el archivo del certificado. El certificado se descarga al momento; después, impórtelo en su navegador o sistema.",
                "Type your NIF or NIE and the Generation Code your Registration Point gave you (on paper or by SMS), and choose a password for the certificate file. The certificate downloads at once; then import it in your browser or system.",
                "Escriga el seu NIF o NIE i el Codi de Generació que li van donar en el seu Punt de Registre (en paper o per SMS), i trie una contrasenya per a l'arxiu del certificat. El certificat es descarrega de seguida; després, importe'l en el seu navegador o sistema.",
            ],
            Key::Nif => ["NIF o NIE", "NIF or NIE", "NIF o NIE"],
            Key::NifHint => [
                "Como en su documento, por ejemplo 12345678Z o X1234567L.",
                "As on your document, for example 12345678Z or X1234567L.",
                "Com en el seu document, per exemple 12345678Z o X1234567L.",
            ],
            Key::Code => ["Código de Generación", "Generation Code", "Codi de Generació"],
            Key::CodeHint => [
                "10 caracteres; distingue mayúsculas y minúsculas. Caduca a los 15 días y solo sirve una vez.",
                "10 characters; upper and lower case differ. It expires after 15 days and works once.",
                "10 caràcters; distingix majúscules i minúscules. Caduca als 15 dies i només servix una vegada.",
            ],
            Key::Password => [
                "Contraseña del archivo",
                "Password for the file",
                "Contrasenya de l'arxiu",
            ],
            Key::PasswordAgain => [
                "Repita la contraseña",
                "The password again",
                "Repetisca la contrasenya",
            ],
            Key::PasswordHint => [
                "Al menos 8 caracteres. La necesitará para importar el certificado: nadie podrá recuperarla.",
                "At least 8 characters. You will need it to import the certificate: no one can recover it.",
                "Almenys 8 caràcters. La necessitarà per a importar el certificat: ningú podrà recuperar-la.",
            ],
            Key::KeyKind => ["Tipo de clave", "Key type", "Tipus de clau"],
            Key::KeyP256 => [
                "Curva elíptica P-256 (recomendada)",
                "Elliptic curve P-256 (recommended)",
                "Corba el·líptica P-256 (recomanada)",
            ],
            Key::KeyRsa => [
                "RSA de 2048 bits (para programas antiguos)",
                "RSA 2048 bits (for older programs)",
                "RSA de 2048 bits (per a programes antics)",
            ],
            Key::Submit => [
                "Generar y descargar el certificado",
                "Generate and download the certificate",
                "Generar i descarregar el certificat",
            ],
            Key::AfterDownload => [
                "Guarde el archivo en un lugar seguro y haga una copia: el certificado no se puede volver a descargar.",
                "Keep the file somewhere safe and make a copy: the certificate cannot be downloaded again.",
                "Guarde l'arxiu en un lloc segur i faça'n una còpia: el certificat no es pot tornar a descarregar.",
            ],
            Key::Refused => [
                "El NIF/NIE o el Código de Generación no son válidos, o el código ha caducado o ya se usó. Compruébelos; tras tres códigos erróneos el código se anula y tendrá que pedir otro en su Punto de Registro.",
                "The NIF/NIE or the Generation Code is not valid, or the code has expired or was used. Check them; after three wrong codes the code is void and you will need a new one from your Registration Point.",
                "El NIF/NIE o el Codi de Generació no són vàlids, o el codi ha caducat o ja es va usar. Comprove'ls; després de tres codis erronis el codi s'anul·la i haurà de demanar-ne un altre en el seu Punt de Registre.",
            ],
            Key::TooMany => [
                "Demasiados intentos. Espere unos minutos y vuelva a intentarlo.",
                "Too many attempts. Wait a few minutes and try again.",
                "Massa intents. Espere uns minuts i torne a intentar-ho.",
            ],
            Key::PasswordShort => [
                "La contraseña debe tener al menos 8 caracteres.",
                "The password must have at least 8 characters.",
                "La contrasenya ha de tindre almenys 8 caràcters.",
            ],
            Key::PasswordLong => [
                "La contraseña puede tener como mucho 128 caracteres.",
                "The password may have at most 128 characters.",
                "La contrasenya pot tindre com a màxim 128 caràcters.",
            ],
            Key::PasswordMismatch => [
                "Las dos contraseñas no coinciden: escríbalas otra vez.",
                "The two passwords differ: type them again.",
                "Les dues contrasenyes no coincidixen: escriga-les una altra vegada.",
            ],
            Key::FormExpired => [
                "El formulario caducó o ya se envió. Rellénelo de nuevo.",
                "The form expired or was already sent. Fill it in again.",
                "El formulari va caducar o ja es va enviar. Òmpliga'l de nou.",
            ],
            Key::BadRequest => [
                "La petición no es válida. Vuelva al formulario y rellénelo de nuevo.",
                "The request is not valid. Go back to the form and fill it in again.",
                "La petició no és vàlida. Torne al formulari i òmpliga'l de nou.",
            ],
            Key::Unavailable => [
                "El servicio no está disponible ahora mismo; su código sigue siendo válido. Inténtelo más tarde.",
                "The service is not available right now; your code is still valid. Try again later.",
                "El servei no està disponible ara mateix; el seu codi continua sent vàlid. Intente-ho més tard.",
            ],
            Key::NotFound => [
                "Esta página no existe.",
                "This page does not exist.",
                "Esta pàgina no existix.",
            ],
            Key::BackToForm => ["Volver al formulario", "Back to the form", "Tornar al formulari"],
            Key::BrowserWay => [
                "¿Prefiere que la clave no salga nunca de su equipo? Genérela en su navegador.",
                "Would you rather the key never left your device? Generate it in your browser.",
                "Preferix que la clau no isca mai del seu equip? Genere-la en el seu navegador.",
            ],
            Key::BrowserIntro => [
                "Con esta opción su navegador genera la clave y el archivo del certificado: la clave y la contraseña no salen de este equipo; al portal solo llegan su NIF o NIE, el Código de Generación y la petición de certificado. Necesita JavaScript.",
                "With this way your browser makes the key and the certificate file: the key and the password never leave this device; the portal receives only your NIF or NIE, the Generation Code and the certificate request. It needs JavaScript.",
                "Amb esta opció el seu navegador genera la clau i l'arxiu del certificat: la clau i la contrasenya no ixen d'este equip; al portal només arriben el seu NIF o NIE, el Codi de Generació i la petició de certificat. Necessita JavaScript.",
            ],
            Key::BrowserNeedsScript => [
                "Esta opción necesita JavaScript, que está desactivado. Puede obtener el certificado con el formulario normal.",
                "This way needs JavaScript, which is off. You can get the certificate with the usual form.",
                "Esta opció necessita JavaScript, que està desactivat. Pot obtindre el certificat amb el formulari normal.",
            ],
            Key::BrowserWorking => [
                "Generando la clave y el certificado en su navegador; puede tardar unos segundos…",
                "Making the key and the certificate in your browser; this can take a few seconds…",
                "Generant la clau i el certificat en el seu navegador; pot tardar uns segons…",
            ],
            Key::BrowserDone => [
                "Listo: el archivo {file} está en sus descargas. Guárdelo en un lugar seguro.",
                "Done: the file {file} is in your downloads. Keep it somewhere safe.",
                "Fet: l'arxiu {file} està en les seues descàrregues. Guarde'l en un lloc segur.",
            ],
            Key::BrowserFailed => [
                "Su navegador no pudo preparar el archivo del certificado. Si el código ya se aceptó, pida uno nuevo en su Punto de Registro.",
                "Your browser could not make the certificate file. If the code was already accepted, ask your Registration Point for a new one.",
                "El seu navegador no va poder preparar l'arxiu del certificat. Si el codi ja es va acceptar, demane'n un de nou en el seu Punt de Registre.",
            ],
            Key::BadCertificateRequest => [
                "La petición de certificado de su navegador no es válida; su código sigue siendo válido. Recargue la página e inténtelo de nuevo.",
                "Your browser's certificate request is not valid; your code is still valid. Reload the page and try again.",
                "La petició de certificat del seu navegador no és vàlida; el seu codi continua sent vàlid. Recarregue la pàgina i torne a intentar-ho.",
            ],
        };
        t[lang.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_first_language_spoken_here() {
        assert_eq!(Lang::from_accept_language("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("fr-FR, ca;q=0.8, es;q=0.5"),
            Lang::Va
        );
        assert_eq!(Lang::from_accept_language("de"), Lang::Es);
        assert_eq!(Lang::from_accept_language(""), Lang::Es);
        for l in Lang::ALL {
            assert_eq!(Lang::from_code(l.code()), Some(l));
        }
    }
}
