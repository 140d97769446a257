//! The citizen's area's words in Spanish, English and Valencian (the form
//! fields it shares with the generation form are `i18n::Key`'s).

use crate::i18n::Lang;

/// Every text of the citizen's area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word {
    Title,
    Hello,
    Serial,
    Kind,
    Until,
    State,
    Software,
    Card,
    CardAuthentication,
    CardSignature,
    CardEncryption,
    Valid,
    Renewable,
    Renewed,
    Expired,
    Revoked,
    RenewFrom,
    Renew,
    Revoke,
    CardAtPru,
    RenewIntro,
    RevokeIntro,
    RevokeConfirm,
    RevokeDone,
    NeedConfirm,
    NotValid,
    NotYours,
    NotOpen,
    Final,
    Back,
}

impl Word {
    pub fn text(self, lang: Lang) -> &'static str {
        let t: [&'static str; 3] = match self {
            Word::Title => ["Sus certificados", "Your certificates", "Els seus certificats"],
            Word::Hello => [
                "Ha entrado con su certificado {serial}, a nombre de {name} ({nif}).",
                "You came in with your certificate {serial}, in the name of {name} ({nif}).",
                "Ha entrat amb el seu certificat {serial}, a nom de {name} ({nif}).",
            ],
            Word::Serial => ["Número de serie", "Serial number", "Número de sèrie"],
            Word::Kind => ["Tipo", "Kind", "Tipus"],
            Word::Until => ["Válido hasta", "Valid until", "Vàlid fins a"],
            Word::State => ["Estado", "State", "Estat"],
            Word::Software => [
                "Certificado de software",
                "Software certificate",
                "Certificat de programari",
            ],
            Word::Card => ["En su tarjeta", "On your card", "En la seua targeta"],
            Word::CardAuthentication => [
                "En su tarjeta: identificación",
                "On your card: identification",
                "En la seua targeta: identificació",
            ],
            Word::CardSignature => [
                "En su tarjeta: firma",
                "On your card: signature",
                "En la seua targeta: signatura",
            ],
            Word::CardEncryption => [
                "En su tarjeta: cifrado",
                "On your card: encryption",
                "En la seua targeta: xifratge",
            ],
            Word::Valid => ["Válido", "Valid", "Vàlid"],
            Word::Renewable => [
                "Válido; ya puede renovarlo",
                "Valid; you can renew it now",
                "Vàlid; ja pot renovar-lo",
            ],
            Word::Renewed => ["Válido; ya renovado", "Valid; renewed already", "Vàlid; ja renovat"],
            Word::Expired => ["Caducado", "Expired", "Caducat"],
            Word::Revoked => ["Revocado", "Revoked", "Revocat"],
            Word::RenewFrom => [
                "Renovable desde el {date}",
                "Renewable from {date}",
                "Renovable des del {date}",
            ],
            Word::Renew => ["Renovar", "Renew", "Renovar"],
            Word::Revoke => ["Revocar", "Revoke", "Revocar"],
            Word::CardAtPru => [
                "Los certificados de su tarjeta se renuevan y se revocan en su Punto de Registro.",
                "Your card's certificates are renewed and revoked at your Registration Point.",
                "Els certificats de la seua targeta es renoven i es revoquen en el seu Punt de Registre.",
            ],
            Word::RenewIntro => [
                "Renovar el certificado {serial}: se generan una clave y un certificado nuevos, que descarga en un archivo protegido con la contraseña que elija. El certificado actual sigue valiendo hasta que caduque.",
                "Renew the certificate {serial}: a new key and certificate are made, which you download in a file protected by the password you choose. The current certificate stays valid until it expires.",
                "Renovar el certificat {serial}: es generen una clau i un certificat nous, que descarrega en un arxiu protegit amb la contrasenya que trie. El certificat actual continua valent fins que caduque.",
            ],
            Word::RevokeIntro => [
                "¿Revocar el certificado {serial}? Dejará de valer en el acto y para siempre: no podrá firmar ni identificarse con él. Hágalo si lo ha perdido o cree que otra persona puede usarlo.",
                "Revoke the certificate {serial}? It stops working at once and for good: you can no longer sign or identify yourself with it. Do it if you lost it or think someone else can use it.",
                "Revocar el certificat {serial}? Deixarà de valdre en l'acte i per a sempre: no podrà signar ni identificar-se amb ell. Feu-ho si l'ha perdut o creu que una altra persona pot usar-lo.",
            ],
            Word::RevokeConfirm => [
                "Entiendo que el certificado dejará de valer para siempre.",
                "I understand that the certificate stops working for good.",
                "Entenc que el certificat deixarà de valdre per a sempre.",
            ],
            Word::RevokeDone => [
                "El certificado {serial} está revocado.",
                "The certificate {serial} is revoked.",
                "El certificat {serial} està revocat.",
            ],
            Word::NeedConfirm => [
                "Marque la casilla para confirmar la revocación; no se ha revocado nada.",
                "Tick the box to confirm the revocation; nothing was revoked.",
                "Marque la casella per a confirmar la revocació; no s'ha revocat res.",
            ],
            Word::NotValid => [
                "Este certificado no da acceso al área: está revocado, ha caducado o no lo emitió esta autoridad. Si tiene otro, cierre el navegador y entre con él.",
                "This certificate does not open the area: it is revoked, has expired or was not issued by this authority. If you have another one, close the browser and come in with it.",
                "Este certificat no dona accés a l'àrea: està revocat, ha caducat o no l'ha emés esta autoritat. Si en té un altre, tanque el navegador i entre amb ell.",
            ],
            Word::NotYours => [
                "Ese certificado no existe o no es suyo.",
                "That certificate does not exist or is not yours.",
                "Eixe certificat no existix o no és seu.",
            ],
            Word::NotOpen => [
                "La renovación de este certificado se abre el {date}, 70 días antes de que caduque.",
                "Renewal of this certificate opens on {date}, 70 days before it expires.",
                "La renovació d'este certificat s'obri el {date}, 70 dies abans que caduque.",
            ],
            Word::Final => [
                "Ese certificado ya está revocado, caducado o renovado.",
                "That certificate is revoked, expired or renewed already.",
                "Eixe certificat ja està revocat, caducat o renovat.",
            ],
            Word::Back => [
                "Volver a sus certificados",
                "Back to your certificates",
                "Tornar als seus certificats",
            ],
        };
        t[lang.index()]
    }
}
