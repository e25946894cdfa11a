//! The data model shared by every role: identities and epochs, the two version types,
//! service keys and publishers (docs/design.md §3), and the operator switches. Each type
//! here is also a wire type.

mod data_info_id;
mod ids;
mod publisher;
mod switches;
mod text;
mod version;

pub use data_info_id::{DataInfoId, SEPARATOR};
pub use ids::{Incarnation, LeaderEpoch, NodeId, ProcessId, Role, SlotId, TableEpoch};
pub use publisher::{Attribute, Payload, Publisher};
pub use switches::{
    MAX_DATA_ID_LEN, MAX_ENTRIES, SwitchChange, SwitchError, Switches, canonical_ip,
};
pub(crate) use text::check_utf8;
pub use text::{NotUtf8, Text};
pub use version::{DatumVersion, RegisterVersion};
