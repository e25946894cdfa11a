//! Listener admission: which first message a connection to each kind of listener may open
//! with, so a session's client and peer ports never serve each other's traffic.

use roster_core::wire::Message;

/// What a listener is for. A session's client port refuses peer traffic and its peer port
/// refuses clients, so the two never share a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Clients say `ClientHello` first.
    Client,
    /// Nodes say `PeerHello` first.
    Peer,
}

impl ListenerKind {
    fn admits(self, first: &Message) -> bool {
        !matches!(
            (self, first),
            (ListenerKind::Client, Message::PeerHello(_))
                | (ListenerKind::Peer, Message::ClientHello(_))
        )
    }

    /// Why a connection from `peer` to this listener may not open with `first` (for the
    /// log); `None` if it may.
    pub fn refusal(self, first: &Message, peer: &str) -> Option<String> {
        (!self.admits(first))
            .then(|| format!("{:?} on the {self:?} port from {peer}", first.kind()))
    }
}
