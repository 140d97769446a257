//! The operator's local time for the times the station records in UTC.
//! The offset comes from the system's time zone file (`TZ`, else
//! `/etc/localtime`, in the TZif format of RFC 8536), read once: `time`'s
//! own local offset is refused in a program with threads.

use std::sync::OnceLock;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Offsets in seconds east of UTC from each transition time on.
#[derive(Debug, Default, PartialEq)]
struct Zone {
    initial: i32,
    transitions: Vec<(i64, i32)>,
}

impl Zone {
    /// The version 1 data block of a TZif file (32-bit times, which cover
    /// the dates an operator reads).
    fn parse(b: &[u8]) -> Option<Zone> {
        if b.get(..4)? != b"TZif" {
            return None;
        }
        let count = |i: usize| -> Option<usize> {
            Some(u32::from_be_bytes(b.get(20 + 4 * i..24 + 4 * i)?.try_into().ok()?) as usize)
        };
        let (timecnt, typecnt) = (count(3)?, count(4)?);
        let times = 44;
        let indices = times + 4 * timecnt;
        let types = indices + timecnt;
        let utoff = |t: usize| -> Option<i32> {
            let at = types + 6 * t;
            Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
        };
        if typecnt == 0 {
            return None;
        }
        let mut transitions = Vec::with_capacity(timecnt);
        for i in 0..timecnt {
            let at = times + 4 * i;
            let when = i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?);
            let kind = *b.get(indices + i)? as usize;
            transitions.push((i64::from(when), utoff(kind)?));
        }
        Some(Zone {
            initial: utoff(0)?,
            transitions,
        })
    }

    fn offset_at(&self, unix: i64) -> i32 {
        match self.transitions.partition_point(|(t, _)| *t <= unix) {
            0 => self.initial,
            n => self.transitions[n - 1].1,
        }
    }
}

fn zone() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(|| {
        let path = match std::env::var("TZ") {
            Ok(tz) if tz.trim_start_matches(':').starts_with('/') => {
                tz.trim_start_matches(':').to_string()
            }
            Ok(tz) if !tz.is_empty() => {
                format!("/usr/share/zoneinfo/{}", tz.trim_start_matches(':'))
            }
            _ => "/etc/localtime".to_string(),
        };
        std::fs::read(path)
            .ok()
            .and_then(|b| Zone::parse(&b))
            .unwrap_or_default()
    })
}

/// `at` in the operator's local time.
pub fn local(at: OffsetDateTime) -> OffsetDateTime {
    let secs = zone().offset_at(at.unix_timestamp());
    at.to_offset(UtcOffset::from_whole_seconds(secs).unwrap_or(UtcOffset::UTC))
}

/// An RFC 3339 time of the audit log as the operator reads it,
/// "02/12/2026 16:04:05" in local time; as it is if it does not read.
pub fn audit_time(at: &str) -> String {
    match OffsetDateTime::parse(at, &Rfc3339) {
        Ok(t) => {
            let t = local(t);
            format!(
                "{} {:02}:{:02}:{:02}",
                super::i18n::date(t.date()),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        Err(_) => at.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn madrid_is_an_hour_ahead_in_winter_and_two_in_summer() {
        let Ok(b) = std::fs::read("/usr/share/zoneinfo/Europe/Madrid") else {
            return; // no tzdata on this machine
        };
        let zone = Zone::parse(&b).expect("a TZif file");
        let winter = time::macros::datetime!(2026-01-15 12:00 UTC).unix_timestamp();
        let summer = time::macros::datetime!(2026-07-15 12:00 UTC).unix_timestamp();
        assert_eq!(zone.offset_at(winter), 3600);
        assert_eq!(zone.offset_at(summer), 7200);
        assert!(Zone::parse(b"not a zone").is_none());
    }
}
