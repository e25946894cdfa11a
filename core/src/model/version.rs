//! The two version types that order everything roster stores and pushes.
//!
//! Neither is derived from a clock: a registration's version comes from the client's own
//! counters, and a datum's from the slot's leader epoch and op-log position, so clock skew
//! between servers cannot reorder anything.

use super::LeaderEpoch;

wire_struct! {
    /// The version of one registration, ordered lexicographically by
    /// `(client_version, connect_generation)`. `client_version` grows on every republish or
    /// unregister; `connect_generation` grows on every (re)connect of the client, so the
    /// replay of a registration after a reconnect is newer than anything the previous
    /// connection sent with the same `client_version`.
    #[derive(Copy, Default, PartialOrd, Ord, Hash)]
    pub struct RegisterVersion {
        /// Grows with every change the client makes to this registration.
        pub client_version: u64,
        /// Grows with every connection the client makes.
        pub connect_generation: u64,
    }
}

wire_struct! {
    /// The version of a datum (the live publishers of one data info id), ordered
    /// lexicographically by `(leader_epoch, seq)`. `seq` is the op-log position of the
    /// datum's last change under that leader epoch. A new leader has a higher epoch, so
    /// versions grow across failovers, and a follower replaying the log holds exactly the
    /// leader's versions.
    #[derive(Copy, Default, PartialOrd, Ord, Hash)]
    pub struct DatumVersion {
        /// The slot's leader epoch when the datum last changed.
        pub leader_epoch: LeaderEpoch,
        /// Op-log position of that change.
        pub seq: u64,
    }
}

impl RegisterVersion {
    /// A version from its two counters.
    pub const fn new(client_version: u64, connect_generation: u64) -> Self {
        RegisterVersion {
            client_version,
            connect_generation,
        }
    }
}

impl DatumVersion {
    /// A version from its two parts.
    pub const fn new(leader_epoch: LeaderEpoch, seq: u64) -> Self {
        DatumVersion { leader_epoch, seq }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_after_reconnect_is_newer_than_the_original() {
        let original = RegisterVersion::new(5, 1);
        let replayed = RegisterVersion::new(5, 2);
        let republished = RegisterVersion::new(6, 1);
        assert!(replayed > original);
        // A republish on the new connection beats both.
        assert!(RegisterVersion::new(6, 2) > replayed);
        assert!(republished > replayed, "client_version is compared first");
    }

    #[test]
    fn a_new_leader_epoch_outranks_any_position_of_the_old_one() {
        let old = DatumVersion::new(LeaderEpoch(3), u64::MAX);
        let new = DatumVersion::new(LeaderEpoch(4), 0);
        assert!(new > old);
        assert!(DatumVersion::new(LeaderEpoch(4), 1) > new);
    }
}
