//! What a data node shows an operator (the admin API): plain values read from its slots,
//! never changing them.

use super::{DataNode, SlotRole};
use crate::model::{DataInfoId, DatumVersion, ProcessId, SlotId};
use crate::wire::{OwnedPublisher, SlotStatus};

/// One key as a data node holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKeyView {
    /// The slot the key hashes to.
    pub slot: SlotId,
    /// Whether this node leads the slot (else it follows it).
    pub leader: bool,
    /// The datum's version.
    pub version: DatumVersion,
    /// Its publishers with their owning session processes, ordered by register id.
    pub publishers: Vec<OwnedPublisher>,
}

impl DataNode {
    /// This node's process (node id and incarnation).
    pub fn process(&self) -> ProcessId {
        self.config().process
    }

    /// `key` as this node holds it, if it holds the key's slot and the key has a datum.
    pub fn key_view(&self, key: &DataInfoId) -> Option<DataKeyView> {
        let slot = self.table().slot_of(key);
        let local = self.slots.get(&slot)?;
        let datum = local.store.datum(key)?;
        Some(DataKeyView {
            slot,
            leader: matches!(local.role, SlotRole::Leader(_)),
            version: datum.version(),
            publishers: datum
                .publishers()
                .map(|s| OwnedPublisher {
                    owner: s.owner,
                    publisher: s.publisher.clone(),
                })
                .collect(),
        })
    }

    /// The status of every slot this node holds, as its heartbeat reports them.
    pub fn slot_statuses(&self) -> Vec<SlotStatus> {
        self.slots
            .keys()
            .filter_map(|&s| self.slot_status(s))
            .collect()
    }
}
