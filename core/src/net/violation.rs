//! The one policy for a peer that breaks the protocol by skipping the hello: a connection
//! whose first frame is neither a hello nor something `docs/protocol.md` lets through
//! before one (a keep-alive, a kind this build does not define). Every role answers it the
//! same way: the frame gets `ErrorReply` (`BadRequest`) naming the message, and the
//! connection is closed with that reason, because a peer that does not say who it is
//! cannot be served and would otherwise hold the connection open for nothing. The role then
//! forgets the connection as for any close it makes and reports its violation event, if it
//! has one.

use crate::io::{ConnId, Output};
use crate::model::Text;
use crate::wire::{ErrorCode, ErrorReply, Frame, MessageKind};

/// A protocol violation on one connection, with the reason the peer and the logs are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    reason: Text,
}

impl Violation {
    /// A `kind` message arrived before the connection's hello.
    pub fn before_hello(kind: MessageKind) -> Self {
        Violation {
            reason: Text::from(format!("{} before a hello", kind.name())),
        }
    }

    /// Why the connection is refused.
    pub fn reason(&self) -> &Text {
        &self.reason
    }

    /// What the role sends for it: the offending frame (under its request id) answered
    /// with the reason, then the connection closed with the same reason.
    pub fn outputs<E>(&self, conn: ConnId, request_id: u64) -> [Output<E>; 2] {
        let reply = ErrorReply {
            code: ErrorCode::BadRequest,
            message: self.reason.clone(),
        };
        [
            Output::Send {
                conn,
                frame: Frame::new(request_id, reply),
            },
            Output::Close {
                conn,
                reason: self.reason.clone(),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Ack, Message};

    #[test]
    fn the_frame_is_answered_then_the_connection_closed_naming_the_message() {
        let kind = Message::from(Ack {}).kind();
        let v = Violation::before_hello(kind);
        assert_eq!(v.reason().as_str(), "Ack before a hello");
        let [reply, close] = v.outputs::<()>(ConnId(4), 9);
        match reply {
            Output::Send { conn, frame } => {
                assert_eq!((conn, frame.request_id), (ConnId(4), 9));
                assert!(matches!(frame.message,
                    Message::ErrorReply(e) if e.code == ErrorCode::BadRequest
                        && e.message.as_str() == "Ack before a hello"));
            }
            other => panic!("not a reply: {other:?}"),
        }
        assert!(matches!(close,
            Output::Close { conn, reason }
                if conn == ConnId(4) && reason.as_str() == "Ack before a hello"));
    }
}
