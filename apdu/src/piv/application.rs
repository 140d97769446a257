//! What a card says about its PIV application before any command: the
//! property template SELECT returns, and whether its ATR announces extended
//! length.

use crate::tlv::Tlv;

/// What SELECT told about the application.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplicationInfo {
    /// The application's PIX and version (tag 4F).
    pub pix: Vec<u8>,
    /// A label, when the card gives one.
    pub label: Option<String>,
    /// Algorithm identifiers the card announces.
    pub algorithms: Vec<u8>,
}

/// Parses the application property template that SELECT returns (tag 61).
/// Unknown or malformed parts are ignored: the template is informative.
pub fn parse_application_template(answer: &[u8]) -> ApplicationInfo {
    let inner = Tlv::find(answer, 0x61).unwrap_or(answer);
    let mut info = ApplicationInfo::default();
    for item in Tlv::iter(inner).map_while(Result::ok) {
        match item.tag {
            0x4F => info.pix = item.value.to_vec(),
            0x50 => info.label = Some(String::from_utf8_lossy(item.value).into_owned()),
            0xAC => {
                info.algorithms = Tlv::iter(item.value)
                    .map_while(Result::ok)
                    .filter(|a| a.tag == 0x80)
                    .filter_map(|a| a.value.first().copied())
                    .collect()
            }
            _ => {}
        }
    }
    info
}

/// Whether an ATR's historical bytes carry card capabilities (compact TLV tag
/// 7) with extended Lc/Le (ISO 7816-4 §8.1.1.2.7, third byte bit 0x40).
pub fn atr_announces_extended_length(atr: &[u8]) -> bool {
    historical_bytes(atr).is_some_and(|h| {
        let mut rest = match h.split_first() {
            Some((0x80, rest)) => rest,
            _ => return false,
        };
        while let Some((&head, tail)) = rest.split_first() {
            let len = usize::from(head & 0x0F);
            if tail.len() < len {
                return false;
            }
            if head >> 4 == 7 && len >= 3 {
                return tail[2] & 0x40 != 0;
            }
            rest = &tail[len..];
        }
        false
    })
}

/// The historical bytes of an ATR (ISO 7816-3 §8.2).
fn historical_bytes(atr: &[u8]) -> Option<&[u8]> {
    let t0 = *atr.get(1)?;
    let k = usize::from(t0 & 0x0F);
    let mut i = 1;
    let mut y = t0 >> 4;
    loop {
        let present = (y & 1) + ((y >> 1) & 1) + ((y >> 2) & 1) + ((y >> 3) & 1);
        let td = if y & 0x08 != 0 {
            Some(i + usize::from(present))
        } else {
            None
        };
        i += usize::from(present);
        match td {
            Some(pos) => y = *atr.get(pos)? >> 4,
            None => break,
        }
    }
    atr.get(i + 1..i + 1 + k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn extended_length_is_read_from_the_atr() {
        let firma = hex::decode("3B8D80018073C021C0574669726D615650DE").unwrap();
        assert!(atr_announces_extended_length(&firma));
        // A YubiKey 5 NFC's ATR announces extended length too (73 C0 21 C0).
        let yubikey = hex::decode("3BFD1300008131FE158073C021C057597562694B657940").unwrap();
        assert!(atr_announces_extended_length(&yubikey));
        assert!(!atr_announces_extended_length(&[0x3B, 0x02, 0x14, 0x50]));
        // Nitrokey 3's generic ATR does not: its APDUs stay short.
        let nitrokey = hex::decode("3B9513810180 73FF01000B".replace(' ', "")).unwrap();
        assert!(!atr_announces_extended_length(&nitrokey));
    }

    #[test]
    fn template_parses() {
        let apt = hex::decode(
            "611B4F0600001000010079074F05A0000003085003414243AC03800107".replace(' ', ""),
        )
        .unwrap();
        let info = parse_application_template(&apt);
        assert_eq!(info.pix, vec![0, 0, 0x10, 0, 1, 0]);
        assert_eq!(info.label.as_deref(), Some("ABC"));
        assert_eq!(info.algorithms, vec![0x07]);
    }

    proptest! {
        #[test]
        fn atr_and_template_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = atr_announces_extended_length(&data);
            let _ = parse_application_template(&data);
        }
    }
}
