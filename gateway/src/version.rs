//! The version of a list as the API writes it: `"EPOCH.SEQ"`, the datum's
//! `DatumVersion` (the slot's leader epoch, then the op-log position). Versions are
//! ordered by the epoch, then the position, as numbers; a client needs only to echo one
//! back (`?index=`), never to compare.

use roster_core::model::{DatumVersion, LeaderEpoch};

/// `version` as `"EPOCH.SEQ"`.
pub(crate) fn format(version: DatumVersion) -> String {
    format!("{}.{}", version.leader_epoch.0, version.seq)
}

/// The version `"EPOCH.SEQ"` names, if it is one.
pub(crate) fn parse(s: &str) -> Option<DatumVersion> {
    let (epoch, seq) = s.split_once('.')?;
    Some(DatumVersion::new(
        LeaderEpoch(epoch.parse().ok()?),
        seq.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_a_version() {
        let v = DatumVersion::new(LeaderEpoch(3), 17);
        assert_eq!(format(v), "3.17");
        assert_eq!(parse("3.17"), Some(v));
        for bad in ["", "3", "3.", ".1", "a.b", "1.2.3", "-1.2", "3.17 "] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
