//! Pairing the credential report's key slots with live access keys. Pure.
//!
//! The report names keys by slot (1, 2), not by ID, and says when each was created
//! (`access_key_N_last_rotated`). ListAccessKeys gives IDs with their creation times. The pairing
//! is accepted only when it is one to one; anything else (a key created or deleted since the
//! report, two keys created in the same second) is [`KeyResolution::Ambiguous`], and the caller
//! reads that user's keys live.

use crate::inventory::AccessKey;

/// The outcome of pairing report keys with live keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyResolution {
    /// Every report key paired with exactly one live key: the report's keys with their IDs and
    /// their live status.
    Matched(Vec<AccessKey>),
    /// The pairing is not one to one: read the keys live.
    Ambiguous,
}

/// Pairs report keys with live keys by creation time, to the second.
pub fn match_report_keys(report: &[AccessKey], live: &[AccessKey]) -> KeyResolution {
    if report.len() != live.len() {
        return KeyResolution::Ambiguous;
    }
    let second = |key: &AccessKey| key.created.map(|created| created.as_second());
    let mut used = vec![false; live.len()];
    let mut matched = Vec::with_capacity(report.len());
    for report_key in report {
        let Some(created) = second(report_key) else {
            return KeyResolution::Ambiguous;
        };
        let mut candidates = live
            .iter()
            .enumerate()
            .filter(|(_, live_key)| second(live_key) == Some(created));
        let (Some((index, live_key)), None) = (candidates.next(), candidates.next()) else {
            return KeyResolution::Ambiguous;
        };
        if std::mem::replace(&mut used[index], true) {
            return KeyResolution::Ambiguous;
        }
        matched.push(AccessKey {
            id: live_key.id.clone(),
            status: live_key.status,
            ..report_key.clone()
        });
    }
    KeyResolution::Matched(matched)
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::inventory::KeyStatus;

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().expect("valid timestamp"))
    }

    fn report_key(slot: u8, created: &str, used: Option<&str>) -> AccessKey {
        AccessKey {
            id: None,
            slot: Some(slot),
            status: KeyStatus::Active,
            created: at(created),
            last_used: used.and_then(at),
            last_used_service: None,
            live: false,
        }
    }

    fn live_key(id: &str, status: KeyStatus, created: &str) -> AccessKey {
        AccessKey {
            id: Some(id.to_owned()),
            slot: None,
            status,
            created: at(created),
            last_used: None,
            last_used_service: None,
            live: false,
        }
    }

    #[test]
    fn pairs_by_creation_time_whatever_the_order() {
        let report = [
            report_key(1, "2024-01-01T00:00:00Z", Some("2026-11-01T00:00:00Z")),
            report_key(2, "2025-06-01T12:00:00Z", None),
        ];
        let live = [
            live_key(
                "AKIASECOND",
                KeyStatus::Inactive,
                "2025-06-01T12:00:00.000Z",
            ),
            live_key("AKIAFIRST", KeyStatus::Active, "2024-01-01T00:00:00Z"),
        ];
        let KeyResolution::Matched(keys) = match_report_keys(&report, &live) else {
            panic!("should pair");
        };
        assert_eq!(keys[0].id.as_deref(), Some("AKIAFIRST"));
        assert_eq!(keys[0].last_used, at("2026-11-01T00:00:00Z"));
        assert_eq!(keys[1].id.as_deref(), Some("AKIASECOND"));
        // The live status wins: the key was deactivated after the report was generated.
        assert_eq!(keys[1].status, KeyStatus::Inactive);
    }

    #[test]
    fn two_keys_created_in_the_same_second_are_ambiguous() {
        let report = [
            report_key(1, "2024-01-01T00:00:00Z", Some("2026-11-01T00:00:00Z")),
            report_key(2, "2024-01-01T00:00:00Z", None),
        ];
        let live = [
            live_key("AKIAONE", KeyStatus::Active, "2024-01-01T00:00:00Z"),
            live_key("AKIATWO", KeyStatus::Active, "2024-01-01T00:00:00Z"),
        ];
        assert_eq!(match_report_keys(&report, &live), KeyResolution::Ambiguous);
    }

    #[test]
    fn a_key_rotated_since_the_report_is_ambiguous() {
        let report = [report_key(1, "2024-01-01T00:00:00Z", None)];
        let replaced = [live_key(
            "AKIANEW",
            KeyStatus::Active,
            "2026-11-28T08:00:00Z",
        )];
        assert_eq!(
            match_report_keys(&report, &replaced),
            KeyResolution::Ambiguous
        );
        let added = [
            live_key("AKIAOLD", KeyStatus::Active, "2024-01-01T00:00:00Z"),
            live_key("AKIANEW", KeyStatus::Active, "2026-11-28T08:00:00Z"),
        ];
        assert_eq!(match_report_keys(&report, &added), KeyResolution::Ambiguous);
        assert_eq!(match_report_keys(&report, &[]), KeyResolution::Ambiguous);
    }
}
