//! The check the `dns` fuzz target runs on arbitrary packets: whatever arrives, the
//! query handling answers or drops without panicking, and every answer is a well-formed
//! response to the packet within its transport's size limit.

use crate::answer::{MAX_TCP, MAX_UDP, answer_now};
use crate::instances::Instance;
use hickory_proto::op::{Message, MessageType};
use std::net::{Ipv4Addr, SocketAddr};

/// Answers `data` over UDP and TCP as if every service had a few instances, and checks
/// each answer. Panics on a broken answer (what the fuzzer looks for).
pub fn check_query(data: &[u8]) {
    // Enough instances that a UDP answer of SRV records must be truncated.
    let instances: Vec<Instance> = (0..40u8)
        .map(|i| Instance {
            addr: SocketAddr::from((Ipv4Addr::new(10, 0, 0, i), 8000 + u16::from(i))),
            weight: u16::from(i),
            priority: 0,
        })
        .collect();
    for (udp, limit) in [(true, usize::from(MAX_UDP)), (false, MAX_TCP)] {
        let Some(bytes) = answer_now(data, udp, &instances, 1) else {
            continue;
        };
        assert!(bytes.len() <= limit, "{} bytes over the limit", bytes.len());
        let answer = Message::from_vec(&bytes).expect("an answer that parses");
        assert_eq!(answer.message_type(), MessageType::Response);
        assert_eq!(
            answer.id(),
            u16::from_be_bytes([data[0], data[1]]),
            "an answer to the query's id"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_seed_and_some_garbage_pass_the_check() {
        super::check_query(include_bytes!("../../fuzz/corpus/dns/seed-srv"));
        for junk in [&[][..], &[0; 12], &[0xff; 40], b"\x00\x01\x01\x00\x00\x01"] {
            super::check_query(junk);
        }
    }
}
