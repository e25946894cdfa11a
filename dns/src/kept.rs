//! A service's newest list, with the answers already encoded from it.
//!
//! Every resolver asks the same few questions (SRV, A, AAAA of one name), and encoding an
//! answer costs microseconds per instance (a thousand-instance SRV answer, milliseconds):
//! so each list keeps the bytes of the answers it gave, by question, and a repeated query
//! costs a lookup and a copy. A new list is a new `Kept`, so nothing stale is ever served.

use crate::instances::Instance;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// At most this many answers are kept per list: the questions are few, but a client can
/// vary the bytes of a query (flags, EDNS options) at will.
const MAX_KEPT_ANSWERS: usize = 64;

/// Encoded answers by the query's bytes past its id, and the size limit: every answer is a
/// function of those, the instances and the TTL (fixed per server).
type Answers = HashMap<(Vec<u8>, usize), Vec<u8>>;

/// The instances of a service as of one list, and the answers encoded from them.
#[derive(Debug)]
pub struct Kept {
    instances: Vec<Instance>,
    answers: Mutex<Answers>,
}

impl Kept {
    /// A list of these instances.
    pub fn new(instances: Vec<Instance>) -> Kept {
        Kept {
            instances,
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// The instances.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    fn answers(&self) -> MutexGuard<'_, Answers> {
        // A map is whole after every statement: a panicking holder leaves nothing half done.
        self.answers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer to the query `raw` within `limit` bytes: a kept one with the query's id,
    /// or the one `make` encodes (then kept).
    pub fn answer(
        &self,
        raw: &[u8],
        limit: usize,
        make: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        let (Some(id), Some(rest)) = (raw.get(..2), raw.get(2..)) else {
            return make();
        };
        let key = (rest.to_vec(), limit);
        if let Some(kept) = self.answers().get(&key) {
            let mut bytes = kept.clone();
            bytes[..2].copy_from_slice(id);
            return Some(bytes);
        }
        let bytes = make()?;
        // Only answers to this query: a FORMERR could carry no id of its own.
        if bytes.len() >= 2 && bytes[..2] == *id {
            let mut answers = self.answers();
            if answers.len() < MAX_KEPT_ANSWERS {
                answers.insert(key, bytes.clone());
            }
        }
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_query_gets_the_kept_answer_with_its_own_id() {
        let kept = Kept::new(vec![]);
        let made = kept.answer(b"\x00\x01question", 512, || {
            Some(b"\x00\x01answer".to_vec())
        });
        assert_eq!(made.as_deref(), Some(&b"\x00\x01answer"[..]));
        let again = kept.answer(b"\x00\x02question", 512, || panic!("encoded twice"));
        assert_eq!(again.as_deref(), Some(&b"\x00\x02answer"[..]));
        let other_limit = kept.answer(b"\x00\x03question", 1232, || Some(b"\x00\x03x".to_vec()));
        assert_eq!(other_limit.as_deref(), Some(&b"\x00\x03x"[..]));
    }

    #[test]
    fn the_kept_answers_are_bounded() {
        let kept = Kept::new(vec![]);
        for i in 0..(MAX_KEPT_ANSWERS as u16 + 10) {
            let q = [&[0, 1][..], &i.to_be_bytes()].concat();
            kept.answer(&q, 512, || Some(vec![0, 1]));
        }
        assert_eq!(kept.answers().len(), MAX_KEPT_ANSWERS);
    }
}
