//! `SlotTable`: which data process leads and follows each slot, at which epochs.
//!
//! A table only ever moves forward: a node installs a table only if its epoch is higher
//! than the one it has, and no slot's leader epoch may go down. A table received from the
//! network is validated into this type (power-of-two slot count, no process twice in one
//! slot), so the rest of the core never sees an ill-formed one.

use super::hash::{BadSlotCount, SlotCount};
use crate::model::{DataInfoId, LeaderEpoch, ProcessId, SlotId, TableEpoch};
use crate::wire::{SlotAssignment, SlotRoute, SlotTableView};
use std::fmt;

/// One slot's replicas.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Slot {
    /// The leader, if the slot has one.
    pub leader: Option<ProcessId>,
    /// Grows whenever `leader` changes.
    pub leader_epoch: LeaderEpoch,
    /// The followers; never contains the leader or a process twice.
    pub followers: Vec<ProcessId>,
}

/// What a process is to one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaRole {
    /// It leads the slot.
    Leader,
    /// It follows the slot.
    Follower,
}

impl Slot {
    /// The process's role in this slot, if any.
    pub fn role_of(&self, process: ProcessId) -> Option<ReplicaRole> {
        if self.leader == Some(process) {
            Some(ReplicaRole::Leader)
        } else if self.followers.contains(&process) {
            Some(ReplicaRole::Follower)
        } else {
            None
        }
    }

    /// Every replica, leader first.
    pub fn replicas(&self) -> impl Iterator<Item = ProcessId> + '_ {
        self.leader
            .iter()
            .copied()
            .chain(self.followers.iter().copied())
    }
}

/// A validated slot table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTable {
    epoch: TableEpoch,
    slots: Vec<Slot>,
}

/// Why a table was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    /// The number of slots is not a valid slot count.
    SlotCount(BadSlotCount),
    /// A process appears more than once among one slot's replicas.
    DuplicateReplica {
        /// The slot.
        slot: SlotId,
        /// The process.
        process: ProcessId,
    },
    /// The table's epoch is not higher than the installed one.
    Stale {
        /// The installed epoch.
        installed: TableEpoch,
        /// The offered epoch.
        offered: TableEpoch,
    },
    /// The table changes the slot count of the installed table.
    CountChanged {
        /// The installed count.
        installed: u32,
        /// The offered count.
        offered: u32,
    },
    /// A slot's leader epoch would go down.
    LeaderEpochRegressed {
        /// The slot.
        slot: SlotId,
        /// The installed leader epoch.
        installed: LeaderEpoch,
        /// The offered leader epoch.
        offered: LeaderEpoch,
    },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::SlotCount(e) => write!(f, "{e}"),
            TableError::DuplicateReplica { slot, process } => {
                write!(f, "process {process} appears twice in slot {}", slot.0)
            }
            TableError::Stale { installed, offered } => write!(
                f,
                "table epoch {} is not newer than the installed {}",
                offered.0, installed.0
            ),
            TableError::CountChanged { installed, offered } => write!(
                f,
                "table has {offered} slots but the cluster has {installed}"
            ),
            TableError::LeaderEpochRegressed {
                slot,
                installed,
                offered,
            } => write!(
                f,
                "slot {} leader epoch would go down from {} to {}",
                slot.0, installed.0, offered.0
            ),
        }
    }
}

impl std::error::Error for TableError {}

impl SlotTable {
    /// The table a node starts with: epoch 0, no replicas.
    pub fn empty(count: SlotCount) -> Self {
        SlotTable {
            epoch: TableEpoch(0),
            slots: vec![Slot::default(); count.get() as usize],
        }
    }

    /// A table from its parts, validated.
    pub fn new(epoch: TableEpoch, slots: Vec<Slot>) -> Result<Self, TableError> {
        SlotCount::new(slots.len() as u64).map_err(TableError::SlotCount)?;
        for (i, slot) in slots.iter().enumerate() {
            let replicas: Vec<ProcessId> = slot.replicas().collect();
            for (j, p) in replicas.iter().enumerate() {
                if replicas[..j].contains(p) {
                    return Err(TableError::DuplicateReplica {
                        slot: SlotId(i as u16),
                        process: *p,
                    });
                }
            }
        }
        Ok(SlotTable { epoch, slots })
    }

    /// The table's epoch.
    pub fn epoch(&self) -> TableEpoch {
        self.epoch
    }

    /// The slot count.
    pub fn slot_count(&self) -> SlotCount {
        // Validated at construction.
        SlotCount::new(self.slots.len() as u64).unwrap_or_default()
    }

    /// One slot. Ids beyond the count have no replicas.
    pub fn slot(&self, id: SlotId) -> Option<&Slot> {
        self.slots.get(usize::from(id.0))
    }

    /// Every slot with its id.
    pub fn slots(&self) -> impl Iterator<Item = (SlotId, &Slot)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| (SlotId(i as u16), s))
    }

    /// The slot a data info id lives in.
    pub fn slot_of(&self, id: &DataInfoId) -> SlotId {
        self.slot_count().slot_of(id)
    }

    /// The route a request to `slot`'s leader carries under this table.
    pub fn route(&self, slot: SlotId) -> Option<SlotRoute> {
        self.slot(slot).map(|s| SlotRoute {
            slot,
            table_epoch: self.epoch,
            leader_epoch: s.leader_epoch,
        })
    }

    /// Checks that `next` may replace this table: a higher epoch, the same slot count, and
    /// no leader epoch going down.
    pub fn check_successor(&self, next: &SlotTable) -> Result<(), TableError> {
        if next.epoch <= self.epoch {
            return Err(TableError::Stale {
                installed: self.epoch,
                offered: next.epoch,
            });
        }
        if next.slots.len() != self.slots.len() && self.epoch != TableEpoch(0) {
            return Err(TableError::CountChanged {
                installed: self.slots.len() as u32,
                offered: next.slots.len() as u32,
            });
        }
        for ((slot, old), new) in self.slots().zip(&next.slots) {
            if new.leader_epoch < old.leader_epoch {
                return Err(TableError::LeaderEpochRegressed {
                    slot,
                    installed: old.leader_epoch,
                    offered: new.leader_epoch,
                });
            }
        }
        Ok(())
    }

    /// Replaces this table by `next` if [`SlotTable::check_successor`] allows it; otherwise
    /// leaves it unchanged.
    pub fn install(&mut self, next: SlotTable) -> Result<(), TableError> {
        self.check_successor(&next)?;
        *self = next;
        Ok(())
    }

    /// The table as transmitted.
    pub fn to_view(&self) -> SlotTableView {
        SlotTableView {
            epoch: self.epoch,
            slots: self
                .slots
                .iter()
                .map(|s| SlotAssignment {
                    leader: s.leader,
                    leader_epoch: s.leader_epoch,
                    followers: s.followers.clone(),
                })
                .collect(),
        }
    }
}

impl TryFrom<SlotTableView> for SlotTable {
    type Error = TableError;
    fn try_from(view: SlotTableView) -> Result<Self, TableError> {
        let slots = view
            .slots
            .into_iter()
            .map(|a| Slot {
                leader: a.leader,
                leader_epoch: a.leader_epoch,
                followers: a.followers,
            })
            .collect();
        SlotTable::new(view.epoch, slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Incarnation, NodeId};

    fn p(n: u64) -> ProcessId {
        ProcessId {
            node: NodeId(n),
            incarnation: Incarnation(1),
        }
    }

    fn table(epoch: u64, leader_epochs: &[u64]) -> SlotTable {
        let slots = leader_epochs
            .iter()
            .map(|&e| Slot {
                leader: Some(p(1)),
                leader_epoch: LeaderEpoch(e),
                followers: vec![p(2)],
            })
            .collect();
        SlotTable::new(TableEpoch(epoch), slots).unwrap()
    }

    #[test]
    fn install_only_moves_forward() {
        let mut t = table(5, &[1, 1]);
        assert_eq!(
            t.install(table(5, &[2, 2])),
            Err(TableError::Stale {
                installed: TableEpoch(5),
                offered: TableEpoch(5)
            })
        );
        assert!(t.install(table(4, &[1, 1])).is_err());
        assert_eq!(t.epoch(), TableEpoch(5));
        t.install(table(6, &[1, 2])).unwrap();
        assert_eq!(t.epoch(), TableEpoch(6));
    }

    #[test]
    fn a_leader_epoch_never_goes_down() {
        let mut t = table(5, &[3, 3]);
        let err = t.install(table(9, &[3, 2])).unwrap_err();
        assert_eq!(
            err,
            TableError::LeaderEpochRegressed {
                slot: SlotId(1),
                installed: LeaderEpoch(3),
                offered: LeaderEpoch(2)
            }
        );
        assert_eq!(t, table(5, &[3, 3]), "refused table changed nothing");
    }

    #[test]
    fn malformed_tables_are_refused() {
        let three = vec![Slot::default(); 3];
        assert!(matches!(
            SlotTable::new(TableEpoch(1), three),
            Err(TableError::SlotCount(_))
        ));
        let dup = vec![Slot {
            leader: Some(p(1)),
            leader_epoch: LeaderEpoch(1),
            followers: vec![p(1)],
        }];
        assert_eq!(
            SlotTable::new(TableEpoch(1), dup),
            Err(TableError::DuplicateReplica {
                slot: SlotId(0),
                process: p(1)
            })
        );
    }

    #[test]
    fn the_first_real_table_may_set_the_slot_count() {
        let mut t = SlotTable::empty(SlotCount::DEFAULT);
        t.install(table(1, &[1, 1])).unwrap();
        assert_eq!(t.slot_count().get(), 2);
        assert!(matches!(
            t.install(table(2, &[1, 1, 1, 1])),
            Err(TableError::CountChanged { .. })
        ));
    }

    #[test]
    fn view_roundtrip_and_roles() {
        let t = table(3, &[1, 4]);
        assert_eq!(SlotTable::try_from(t.to_view()).unwrap(), t);
        let s = t.slot(SlotId(1)).unwrap();
        assert_eq!(s.role_of(p(1)), Some(ReplicaRole::Leader));
        assert_eq!(s.role_of(p(2)), Some(ReplicaRole::Follower));
        assert_eq!(s.role_of(p(3)), None);
        assert_eq!(
            t.route(SlotId(1)),
            Some(SlotRoute {
                slot: SlotId(1),
                table_epoch: TableEpoch(3),
                leader_epoch: LeaderEpoch(4)
            })
        );
        assert_eq!(t.route(SlotId(2)), None);
    }
}
