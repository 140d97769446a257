//! The window's texts for the Generation Code of a software certificate,
//! in a file of their own: every [`CodeText`] with its Spanish, English and
//! Valencian text in one `match`, so a missing one does not build; and the
//! engine's [`CodeError`] in the operator's words.

use firma_station_engine::generation_code::CodeError;

use super::Lang;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeText {
    Heading,
    IssuePaper,
    IssueSms,
    IssueHint,
    NeedIdentity,
    Issuing,
    LetterTitle,
    LetterHint,
    SmsSent,
    Close,
    ErrCheckUsed,
    ErrSmsFailed,
    ErrNoSmsGateway,
    ErrKey,
    ErrLetter,
    ErrRefused,
    ActIssued,
    ActVoided,
    ActRefused,
    ActRedeemed,
    ActRenewed,
    ActRevoked,
    SubjectPortal,
}

impl CodeText {
    fn texts(self) -> [&'static str; 3] {
        use CodeText::*;
        match self {
            Heading => [
                "Certificado software",
                "Software certificate",
                "Certificat programari",
            ],
            IssuePaper => [
                "Código de generación en papel",
                "Generation Code on paper",
                "Codi de generació en paper",
            ],
            IssueSms => [
                "Código de generación por SMS",
                "Generation Code by SMS",
                "Codi de generació per SMS",
            ],
            IssueHint => [
                "El ciudadano genera su certificado en el portal con su NIF y el código (15 días, un solo uso). Un código nuevo anula el anterior.",
                "The citizen generates their certificate in the portal with their NIF and the code (15 days, single use). A new code voids the previous one.",
                "El ciutadà genera el seu certificat en el portal amb el seu NIF i el codi (15 dies, un sol ús). Un codi nou anul·la l'anterior.",
            ],
            NeedIdentity => [
                "Para un código nuevo, compruebe antes el documento de identidad.",
                "For a new code, check the identity document first.",
                "Per a un codi nou, comprove abans el document d'identitat.",
            ],
            Issuing => ["Emitiendo el código…", "Issuing the code…", "Emetent el codi…"],
            LetterTitle => [
                "Carta del código de generación",
                "Generation Code letter",
                "Carta del codi de generació",
            ],
            LetterHint => [
                "Imprímala y entréguela al ciudadano. El código no se guarda en ningún sitio.",
                "Print it and hand it to the citizen. The code is not kept anywhere.",
                "Imprimisca-la i entregue-la al ciutadà. El codi no es guarda en cap lloc.",
            ],
            SmsSent => [
                "Código enviado por SMS a {0}, válido hasta el {1}.",
                "Code sent by SMS to {0}, valid until {1}.",
                "Codi enviat per SMS a {0}, vàlid fins al {1}.",
            ],
            Close => ["Cerrar", "Close", "Tancar"],
            ErrCheckUsed => [
                "Esta comprobación de identidad ya dio un código. Compruebe de nuevo el documento para emitir otro (anula el anterior).",
                "This identity check already gave a code. Check the document again to issue another (it voids the previous one).",
                "Esta comprovació d'identitat ja va donar un codi. Comprove de nou el document per a emetre'n un altre (anul·la l'anterior).",
            ],
            ErrSmsFailed => [
                "El SMS no salió y el código se anuló. Compruebe de nuevo el documento y emita el código en papel.",
                "The SMS did not go and the code was voided. Check the document again and issue the code on paper.",
                "L'SMS no va eixir i el codi es va anul·lar. Comprove de nou el document i emeta el codi en paper.",
            ],
            ErrNoSmsGateway => [
                "Esta estación no tiene pasarela de SMS: emita el código en papel.",
                "This station has no SMS gateway: issue the code on paper.",
                "Esta estació no té passarel·la d'SMS: emeta el codi en paper.",
            ],
            ErrKey => [
                "La clave de los códigos de la estación no se puede leer: avise al responsable de la estación.",
                "The station's code key cannot be read: tell whoever looks after the station.",
                "La clau dels codis de l'estació no es pot llegir: avise el responsable de l'estació.",
            ],
            ErrLetter => [
                "La carta no se pudo entregar y el código se anuló. Compruebe de nuevo el documento y emita otro.",
                "The letter could not be delivered and the code was voided. Check the document again and issue another.",
                "La carta no es va poder lliurar i el codi es va anul·lar. Comprove de nou el document i emeta'n un altre.",
            ],
            ActIssued => [
                "Código de generación emitido",
                "Generation Code issued",
                "Codi de generació emés",
            ],
            ActVoided => [
                "Código de generación anulado",
                "Generation Code voided",
                "Codi de generació anul·lat",
            ],
            ActRefused => [
                "Código de generación rechazado",
                "Generation Code refused",
                "Codi de generació rebutjat",
            ],
            ActRedeemed => [
                "Código de generación usado: certificado software emitido",
                "Generation Code used: software certificate issued",
                "Codi de generació usat: certificat programari emés",
            ],
            ActRenewed => [
                "Certificado software renovado por su titular",
                "Software certificate renewed by its holder",
                "Certificat programari renovat pel seu titular",
            ],
            ActRevoked => [
                "Certificado software revocado por su titular",
                "Software certificate revoked by its holder",
                "Certificat programari revocat pel seu titular",
            ],
            SubjectPortal => [
                "Portal de generación",
                "Generation portal",
                "Portal de generació",
            ],
            ErrRefused => [
                "NIF y código no válidos.",
                "NIF and code not valid.",
                "NIF i codi no vàlids.",
            ],
        }
    }
}

pub fn tc(lang: Lang, key: CodeText) -> &'static str {
    let [es, en, va] = key.texts();
    match lang {
        Lang::Es => es,
        Lang::En => en,
        Lang::Va => va,
    }
}

/// A [`CodeError`] in the operator's words.
pub fn error(lang: Lang, e: &CodeError) -> String {
    let key = match e {
        CodeError::IdentityCheckUsed { .. } => CodeText::ErrCheckUsed,
        CodeError::SmsFailed(_) => CodeText::ErrSmsFailed,
        CodeError::NoSmsGateway => CodeText::ErrNoSmsGateway,
        CodeError::Key(_) => CodeText::ErrKey,
        CodeError::Letter(_) => CodeText::ErrLetter,
        CodeError::Refused => CodeText::ErrRefused,
    };
    tc(lang, key).to_string()
}
