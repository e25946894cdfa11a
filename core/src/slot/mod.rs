//! Slots: hashing data info ids to slots, and the slot table that assigns each slot a
//! leader and followers (docs/design.md §4.1). Meta's arrangement, which computes new
//! tables, lives with meta.

mod hash;
mod table;

pub use hash::{BadSlotCount, SlotCount};
pub use table::{ReplicaRole, Slot, SlotTable, TableError};
