//! Operator switches (docs/operations.md, "Switches"): the set an operator turns on and off
//! at run time, replicated by meta and applied by every session.
//!
//! - [`Switches`]: the set in force, with a version that grows on every change. Meta holds
//!   it in its replicated state (so it is in the log and its snapshots) and sends it to
//!   every node in `ClusterView`; a node applies a set only if its version is newer.
//! - [`SwitchChange`]: one switch turned on or off, the unit a meta command carries. A
//!   change is applied to the set in force when its entry commits, not to the set its
//!   proposer saw, so changes proposed concurrently (or forwarded by a meta follower) all
//!   take effect, in log order, and a repeated change is harmless.
//!
//! The sets are `BTreeSet`s so that the encoding is the same on every meta node. Entries are
//! checked before they are proposed ([`SwitchChange::checked`]): a client address is an IP
//! address in canonical text form, a data id is non-empty and bounded, and each set holds at
//! most [`MAX_ENTRIES`], so a `ClusterView` stays small.

use super::Text;
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

/// The most entries one set of switches may hold.
pub const MAX_ENTRIES: usize = 4096;
/// The longest data id a switch names, in bytes.
pub const MAX_DATA_ID_LEN: usize = 1024;

wire_struct! {
    /// The switches in force.
    #[derive(Default)]
    pub struct Switches {
        /// Grows by one with every committed change that changed something; 0: never set.
        pub version: u64,
        /// No push leaves any session.
        pub pushes_stopped: bool,
        /// No push of these data ids leaves any session.
        pub push_stopped_data_ids: BTreeSet<Text>,
        /// Client IP addresses (canonical text) refused by every session: their connections
        /// are closed and their publishers removed at once.
        pub clients_off: BTreeSet<Text>,
        /// Data ids no client may register (publish or subscribe); their publishers are
        /// removed.
        pub blacklisted_data_ids: BTreeSet<Text>,
    }
}

wire_enum! {
    /// One switch turned on (`on`) or off.
    pub enum SwitchChange {
        /// Stop (or resume) every push.
        1 => StopAllPushes { on: bool },
        /// Stop (or resume) the pushes of one data id.
        2 => StopPush { data_id: Text, on: bool },
        /// Refuse (or admit again) a client IP address.
        3 => ClientOff { address: Text, on: bool },
        /// Blacklist (or allow again) a data id.
        4 => Blacklist { data_id: Text, on: bool },
    }
}

/// A change that cannot be accepted, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchError(pub String);

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SwitchError {}

/// The canonical text of a client address: what `clients_off` holds and sessions compare
/// with (an IPv4 address seen through an IPv6 socket counts as the IPv4 address).
pub fn canonical_ip(ip: IpAddr) -> Text {
    Text::from(ip.to_canonical().to_string())
}

fn check_data_id(data_id: &Text) -> Result<(), SwitchError> {
    if data_id.is_empty() {
        return Err(SwitchError("empty data id".into()));
    }
    if data_id.len() > MAX_DATA_ID_LEN {
        return Err(SwitchError(format!(
            "data id of {} bytes exceeds {MAX_DATA_ID_LEN}",
            data_id.len()
        )));
    }
    Ok(())
}

impl SwitchChange {
    /// The change in canonical form (a client address as [`canonical_ip`] writes it), or
    /// why it is invalid.
    pub fn checked(self) -> Result<SwitchChange, SwitchError> {
        match self {
            SwitchChange::ClientOff { address, on } => {
                let ip: IpAddr = address.as_str().trim().parse().map_err(|_| {
                    SwitchError(format!("{:?} is not an IP address", address.as_str()))
                })?;
                let address = canonical_ip(ip);
                Ok(SwitchChange::ClientOff { address, on })
            }
            SwitchChange::StopPush { ref data_id, .. }
            | SwitchChange::Blacklist { ref data_id, .. } => {
                check_data_id(data_id)?;
                Ok(self)
            }
            SwitchChange::StopAllPushes { .. } => Ok(self),
        }
    }

    /// The switch's name, as operators and error messages call it.
    pub fn name(&self) -> &'static str {
        match self {
            SwitchChange::StopAllPushes { .. } => "stop-all-pushes",
            SwitchChange::StopPush { .. } => "stop-push",
            SwitchChange::ClientOff { .. } => "client-off",
            SwitchChange::Blacklist { .. } => "blacklist",
        }
    }
}

/// Turns `entry` on or off in `set`; whether it changed. A set at [`MAX_ENTRIES`] takes
/// no more (checked before proposing; here only so that apply stays bounded).
fn turn(set: &mut BTreeSet<Text>, entry: &Text, on: bool) -> bool {
    if !on {
        return set.remove(entry);
    }
    set.len() < MAX_ENTRIES && set.insert(entry.clone())
}

impl Switches {
    /// Applies `changes` in order; whether anything changed (the version then grew by one).
    pub fn apply(&mut self, changes: &[SwitchChange]) -> bool {
        let mut changed = false;
        for c in changes {
            changed |= match c {
                SwitchChange::StopAllPushes { on } => {
                    std::mem::replace(&mut self.pushes_stopped, *on) != *on
                }
                SwitchChange::StopPush { data_id, on } => {
                    turn(&mut self.push_stopped_data_ids, data_id, *on)
                }
                SwitchChange::ClientOff { address, on } => {
                    turn(&mut self.clients_off, address, *on)
                }
                SwitchChange::Blacklist { data_id, on } => {
                    turn(&mut self.blacklisted_data_ids, data_id, *on)
                }
            };
        }
        if changed {
            self.version += 1;
        }
        changed
    }

    /// Whether applying `changes` would change nothing: they are in force already.
    pub fn satisfies(&self, changes: &[SwitchChange]) -> bool {
        !self.clone().apply(changes)
    }

    /// Checks `changes` (canonical form) and that the sets stay within [`MAX_ENTRIES`]
    /// once they are applied to this set.
    pub fn admit(&self, changes: Vec<SwitchChange>) -> Result<Vec<SwitchChange>, SwitchError> {
        let changes = changes
            .into_iter()
            .map(SwitchChange::checked)
            .collect::<Result<Vec<_>, _>>()?;
        let mut next = self.clone();
        for c in &changes {
            let before = next.clone();
            next.apply(std::slice::from_ref(c));
            if next == before && c.is_on() && !before.holds(c) {
                return Err(SwitchError(format!(
                    "{} holds {MAX_ENTRIES} entries already",
                    c.name()
                )));
            }
        }
        Ok(changes)
    }

    /// Whether `change`'s switch is on in this set.
    fn holds(&self, change: &SwitchChange) -> bool {
        match change {
            SwitchChange::StopAllPushes { .. } => self.pushes_stopped,
            SwitchChange::StopPush { data_id, .. } => self.push_stopped_data_ids.contains(data_id),
            SwitchChange::ClientOff { address, .. } => self.clients_off.contains(address),
            SwitchChange::Blacklist { data_id, .. } => self.blacklisted_data_ids.contains(data_id),
        }
    }

    /// The changes that turn this set into `desired` (its version aside): every switch
    /// `desired` has that this set lacks is turned on, every other one off.
    pub fn changes_to(&self, desired: &Switches) -> Vec<SwitchChange> {
        let mut out = Vec::new();
        if self.pushes_stopped != desired.pushes_stopped {
            out.push(SwitchChange::StopAllPushes {
                on: desired.pushes_stopped,
            });
        }
        let sets = [
            (&self.push_stopped_data_ids, &desired.push_stopped_data_ids),
            (&self.clients_off, &desired.clients_off),
            (&self.blacklisted_data_ids, &desired.blacklisted_data_ids),
        ];
        for (i, (have, want)) in sets.into_iter().enumerate() {
            let make = |entry: &Text, on: bool| match i {
                0 => SwitchChange::StopPush {
                    data_id: entry.clone(),
                    on,
                },
                1 => SwitchChange::ClientOff {
                    address: entry.clone(),
                    on,
                },
                _ => SwitchChange::Blacklist {
                    data_id: entry.clone(),
                    on,
                },
            };
            out.extend(have.difference(want).map(|e| make(e, false)));
            out.extend(want.difference(have).map(|e| make(e, true)));
        }
        out
    }

    /// Whether pushes of `data_id` are held.
    pub fn holds_pushes(&self, data_id: &str) -> bool {
        self.pushes_stopped || self.push_stopped_data_ids.contains(data_id)
    }

    /// Whether `data_id` is blacklisted.
    pub fn is_blacklisted(&self, data_id: &str) -> bool {
        self.blacklisted_data_ids.contains(data_id)
    }
}

impl SwitchChange {
    /// Whether the change turns its switch on.
    pub fn is_on(&self) -> bool {
        match self {
            SwitchChange::StopAllPushes { on }
            | SwitchChange::StopPush { on, .. }
            | SwitchChange::ClientOff { on, .. }
            | SwitchChange::Blacklist { on, .. } => *on,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Decode, Encode, Reader};
    use bytes::BytesMut;

    fn blacklist(id: &str, on: bool) -> SwitchChange {
        SwitchChange::Blacklist {
            data_id: Text::from(id),
            on,
        }
    }

    #[test]
    fn a_change_bumps_the_version_once_and_a_repeat_changes_nothing() {
        let mut s = Switches::default();
        let changes = [
            blacklist("a", true),
            SwitchChange::StopAllPushes { on: true },
        ];
        assert!(s.apply(&changes));
        assert_eq!(s.version, 1);
        assert!(s.pushes_stopped && s.is_blacklisted("a"));
        assert!(s.satisfies(&changes));
        assert!(!s.apply(&changes), "already in force");
        assert_eq!(s.version, 1);
        assert!(s.apply(&[blacklist("a", false)]));
        assert_eq!((s.version, s.is_blacklisted("a")), (2, false));
    }

    #[test]
    fn client_addresses_are_checked_and_made_canonical() {
        let off = |a: &str| SwitchChange::ClientOff {
            address: Text::from(a),
            on: true,
        };
        assert_eq!(
            off(" ::ffff:10.0.0.7").checked(),
            Ok(off("10.0.0.7")),
            "an IPv4 address seen through IPv6 is the IPv4 address"
        );
        let err = off("10.0.0.7:80").checked().unwrap_err();
        assert!(err.0.contains("not an IP address"), "{err}");
        assert!(blacklist("", true).checked().is_err());
        let s = Switches::default();
        let before = s.clone();
        assert!(s.admit(vec![blacklist("x", true), off("nope")]).is_err());
        assert_eq!(s, before);
    }

    #[test]
    fn a_full_set_refuses_one_more_entry() {
        let mut s = Switches::default();
        let many: Vec<_> = (0..MAX_ENTRIES)
            .map(|i| blacklist(&i.to_string(), true))
            .collect();
        assert!(s.apply(&many));
        let err = s.admit(vec![blacklist("one more", true)]).unwrap_err();
        assert!(err.0.contains("blacklist holds"), "{err}");
        assert!(s.admit(vec![blacklist("0", true)]).is_ok(), "already on");
        assert!(
            !s.apply(&[blacklist("one more", true)]),
            "apply stays bounded"
        );
    }

    #[test]
    fn changes_to_reaches_the_desired_set_and_it_encodes_deterministically() {
        let mut have = Switches::default();
        have.apply(&[blacklist("a", true), blacklist("b", true)]);
        let mut want = Switches::default();
        want.apply(&[
            blacklist("b", true),
            SwitchChange::StopPush {
                data_id: Text::from("p"),
                on: true,
            },
            SwitchChange::ClientOff {
                address: Text::from("10.1.1.1"),
                on: true,
            },
            SwitchChange::StopAllPushes { on: true },
        ]);
        let changes = have.changes_to(&want);
        assert_eq!(changes.len(), 4, "{changes:?}");
        have.apply(&changes);
        assert_eq!(have.version, 2);
        want.version = have.version;
        assert_eq!(have, want);
        assert!(have.changes_to(&want).is_empty());

        let mut buf = BytesMut::new();
        have.encode(&mut buf);
        assert_eq!(buf.len(), have.encoded_len());
        let bytes = buf.freeze();
        let mut r = Reader::new(&bytes);
        assert_eq!(Switches::decode(&mut r), Ok(have));
    }
}
