//! Admission of slot-addressed requests (docs/design.md §4.1): only the slot's leader, at
//! the leader epoch the request was routed with, serves it.
//!
//! - this node is not the slot's leader in its table → `Moved` (naming who is);
//! - the route's leader epoch differs from the table's → `EpochMismatch`;
//! - a read (`FetchDatums`, `VersionScan`) while the slot is still reconciling with the
//!   sessions → `Migrating`. Writes are accepted while reconciling, as in SOFARegistry: the
//!   sessions are the source of truth and reconciliation merges by `RegisterVersion`.
//!
//! A refused request changes nothing; the node checks admission before touching any state.

use crate::model::{LeaderEpoch, ProcessId, SlotId};
use crate::slot::SlotTable;
use crate::wire::SlotRefusal;

/// What a request does to the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Changes publishers; allowed while reconciling.
    Write,
    /// Reads datums or versions; waits for reconciliation.
    Read,
}

/// Decides whether `me` serves a request for `slot` routed at `leader_epoch`.
/// `reconciled` tells whether the local copy of the slot finished reconciliation.
pub(crate) fn admit(
    table: &SlotTable,
    me: ProcessId,
    slot: SlotId,
    leader_epoch: LeaderEpoch,
    access: Access,
    reconciled: bool,
) -> Result<(), SlotRefusal> {
    let table_epoch = table.epoch();
    let Some(s) = table.slot(slot) else {
        return Err(SlotRefusal::Moved {
            table_epoch,
            leader: None,
        });
    };
    if s.leader != Some(me) {
        return Err(SlotRefusal::Moved {
            table_epoch,
            leader: s.leader,
        });
    }
    if leader_epoch != s.leader_epoch {
        return Err(SlotRefusal::EpochMismatch {
            table_epoch,
            leader_epoch: s.leader_epoch,
        });
    }
    if access == Access::Read && !reconciled {
        return Err(SlotRefusal::Migrating { table_epoch });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::pid as p;
    use crate::model::TableEpoch;
    use crate::slot::Slot;

    fn table() -> SlotTable {
        let slot = Slot {
            leader: Some(p(1)),
            leader_epoch: LeaderEpoch(4),
            followers: vec![p(2)],
        };
        SlotTable::new(TableEpoch(9), vec![slot.clone(), slot]).unwrap()
    }

    #[test]
    fn admission_moved_when_not_leader_or_unknown_slot() {
        let t = table();
        assert_eq!(
            admit(&t, p(2), SlotId(0), LeaderEpoch(4), Access::Write, true),
            Err(SlotRefusal::Moved {
                table_epoch: TableEpoch(9),
                leader: Some(p(1))
            })
        );
        assert_eq!(
            admit(&t, p(1), SlotId(7), LeaderEpoch(4), Access::Write, true),
            Err(SlotRefusal::Moved {
                table_epoch: TableEpoch(9),
                leader: None
            })
        );
    }

    #[test]
    fn admission_epoch_mismatch_on_other_leader_epoch() {
        let t = table();
        for e in [3, 5] {
            assert_eq!(
                admit(&t, p(1), SlotId(1), LeaderEpoch(e), Access::Write, true),
                Err(SlotRefusal::EpochMismatch {
                    table_epoch: TableEpoch(9),
                    leader_epoch: LeaderEpoch(4)
                })
            );
        }
    }

    #[test]
    fn admission_reads_wait_for_reconciliation_writes_do_not() {
        let t = table();
        assert_eq!(
            admit(&t, p(1), SlotId(1), LeaderEpoch(4), Access::Read, false),
            Err(SlotRefusal::Migrating {
                table_epoch: TableEpoch(9)
            })
        );
        assert_eq!(
            admit(&t, p(1), SlotId(1), LeaderEpoch(4), Access::Write, false),
            Ok(())
        );
        assert_eq!(
            admit(&t, p(1), SlotId(1), LeaderEpoch(4), Access::Read, true),
            Ok(())
        );
    }
}
