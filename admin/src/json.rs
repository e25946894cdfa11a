//! The core's plain values as JSON, one shape each wherever they appear: a process is
//! `{"node", "incarnation"}`, a version is `{"leader_epoch", "seq"}`, a publisher carries
//! its payload as UTF-8 text where it is text (it nearly always is: `host:port`) and as
//! hex otherwise.

use roster_core::model::{DatumVersion, ProcessId, Publisher, RegisterVersion, Role};
use serde::Serialize;

/// A process.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct ProcessJson {
    /// Node id.
    pub node: u64,
    /// Incarnation (a new one per start).
    pub incarnation: u64,
}

impl From<ProcessId> for ProcessJson {
    fn from(p: ProcessId) -> Self {
        ProcessJson {
            node: p.node.0,
            incarnation: p.incarnation.0,
        }
    }
}

/// A datum version.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct VersionJson {
    /// The slot's leader epoch of the change.
    pub leader_epoch: u64,
    /// Op-log position of the change.
    pub seq: u64,
}

impl From<DatumVersion> for VersionJson {
    fn from(v: DatumVersion) -> Self {
        VersionJson {
            leader_epoch: v.leader_epoch.0,
            seq: v.seq,
        }
    }
}

/// A role's name.
pub fn role(r: Role) -> &'static str {
    match r {
        Role::Session => "session",
        Role::Data => "data",
        Role::Meta => "meta",
    }
}

/// A register version.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct RegisterVersionJson {
    /// Changes the client made to the registration.
    pub client_version: u64,
    /// Connections the client made.
    pub connect_generation: u64,
}

impl From<RegisterVersion> for RegisterVersionJson {
    fn from(v: RegisterVersion) -> Self {
        RegisterVersionJson {
            client_version: v.client_version,
            connect_generation: v.connect_generation,
        }
    }
}

/// A publisher.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PublisherJson {
    /// Chosen by the client, unique per registration.
    pub register_id: String,
    /// Its register version.
    pub version: RegisterVersionJson,
    /// Its payload elements, as text where they are UTF-8, else `hex:` and their bytes.
    pub payload: Vec<String>,
    /// Its attributes.
    pub attributes: Vec<(String, String)>,
}

impl From<&Publisher> for PublisherJson {
    fn from(p: &Publisher) -> Self {
        PublisherJson {
            register_id: p.register_id.to_string(),
            version: p.version.into(),
            payload: p.payload.iter().map(|b| payload_text(b)).collect(),
            attributes: p
                .attributes
                .iter()
                .map(|a| (a.key.to_string(), a.value.to_string()))
                .collect(),
        }
    }
}

fn payload_text(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("hex:{hex}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_payloads_stay_text_and_binary_ones_are_hex() {
        assert_eq!(payload_text(b"10.0.0.1:80"), "10.0.0.1:80");
        assert_eq!(payload_text(&[0xff, 0x00]), "hex:ff00");
    }
}
