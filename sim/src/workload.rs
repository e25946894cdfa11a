//! What the applications do: each client publishes, republishes, unpublishes, subscribes and
//! unsubscribes over a key space with optional hot keys. The workload keeps the model of
//! every live client's registrations, which is the truth the liveness check compares
//! subscribers' lists with.

use bytes::Bytes;
use roster_core::client::Command;
use roster_core::model::{DataInfoId, Text};
use roster_core::rng::Rng;
use std::collections::BTreeMap;

/// One client process's registrations, as the application made them.
#[derive(Debug, Default, Clone)]
pub struct ClientModel {
    /// Publishers: register id → (key, payload).
    pub pubs: BTreeMap<Text, (usize, Vec<Bytes>)>,
    /// Subscribers: register id → key.
    pub subs: BTreeMap<Text, usize>,
    next: u64,
}

/// The applications of a run.
#[derive(Debug)]
pub struct Workload {
    keys: Vec<DataInfoId>,
    cap: usize,
    hot: f64,
    /// Per client node: its current process's registrations.
    pub models: BTreeMap<usize, ClientModel>,
}

/// The most registrations of each kind one client holds, and over all clients (so a
/// 200-client run with one hot key stays a few hundred publishers per key).
const MAX_PER_CLIENT: usize = 6;
const MAX_TOTAL: usize = 400;

impl Workload {
    /// A workload over `keys` data ids, a fraction `hot` of operations on the first few.
    pub fn new(keys: usize, hot: f64, clients: usize) -> Self {
        let keys = (0..keys.max(1))
            .map(|k| DataInfoId::new(format!("svc.{k}"), "DEFAULT_INSTANCE_ID", "DEFAULT_GROUP"))
            .collect();
        Workload {
            keys,
            cap: (MAX_TOTAL / clients.max(1)).clamp(1, MAX_PER_CLIENT),
            hot,
            models: BTreeMap::new(),
        }
    }

    /// The key with index `k`.
    pub fn key(&self, k: usize) -> &DataInfoId {
        &self.keys[k]
    }

    /// The index of `key`, if the workload uses it.
    pub fn key_index(&self, key: &DataInfoId) -> Option<usize> {
        self.keys.iter().position(|k| k == key)
    }

    fn pick_key(&self, rng: &mut Rng) -> usize {
        let n = self.keys.len() as u64;
        let hot = n.min(3);
        if self.hot > 0.0 && rng.chance(self.hot) {
            rng.below(hot) as usize
        } else {
            rng.below(n) as usize
        }
    }

    /// A client process died: its registrations die with it.
    pub fn reset(&mut self, client: usize) {
        self.models.remove(&client);
    }

    /// The next operation of client `client` (process incarnation `inc`).
    pub fn next_op(&mut self, client: usize, inc: u64, rng: &mut Rng) -> Command {
        let k = self.pick_key(rng);
        let key = self.keys[k].clone();
        let m = self.models.entry(client).or_default();
        m.next += 1;
        let n = m.next;
        let cap = self.cap;
        let pick =
            |rng: &mut Rng, ids: Vec<&Text>| ids[rng.below(ids.len() as u64) as usize].clone();
        let payload = vec![Bytes::from(format!("10.{client}.{inc}.{n}:8080"))];
        match rng.below(10) {
            0..=2 if m.pubs.len() < cap => {
                let id = Text::from(format!("c{client}.{inc}-p{n}"));
                m.pubs.insert(id.clone(), (k, payload.clone()));
                publish(key, id, payload)
            }
            3 | 4 if !m.pubs.is_empty() => {
                let id = pick(rng, m.pubs.keys().collect());
                let entry = m.pubs.get_mut(&id).expect("picked from the map");
                entry.1 = payload.clone();
                publish(self.keys[entry.0].clone(), id, payload)
            }
            5 if !m.pubs.is_empty() => {
                let id = pick(rng, m.pubs.keys().collect());
                let (k, _) = m.pubs.remove(&id).expect("picked from the map");
                Command::Unpublish {
                    data_info_id: self.keys[k].clone(),
                    register_id: id,
                }
            }
            6 if !m.subs.is_empty() => {
                let id = pick(rng, m.subs.keys().collect());
                let k = m.subs.remove(&id).expect("picked from the map");
                Command::Unsubscribe {
                    data_info_id: self.keys[k].clone(),
                    register_id: id,
                }
            }
            _ if m.subs.len() < cap => {
                let id = Text::from(format!("c{client}.{inc}-s{n}"));
                m.subs.insert(id.clone(), k);
                Command::Subscribe {
                    data_info_id: key,
                    register_id: id,
                }
            }
            _ => {
                // Full: republish something, or publish if nothing is published yet.
                if let Some(id) = m.pubs.keys().next().cloned() {
                    let entry = m.pubs.get_mut(&id).expect("present");
                    entry.1 = payload.clone();
                    publish(self.keys[entry.0].clone(), id, payload)
                } else {
                    let id = Text::from(format!("c{client}.{inc}-p{n}"));
                    m.pubs.insert(id.clone(), (k, payload.clone()));
                    publish(key, id, payload)
                }
            }
        }
    }

    /// What every subscriber of each key should see: (register id, payload) of the
    /// publishers of the given live clients, ordered by register id; keys nobody publishes
    /// are absent (their subscribers should see the empty list).
    pub fn expected(&self, live: &[usize]) -> BTreeMap<usize, Vec<(Text, Vec<Bytes>)>> {
        // One pass over every live publisher, not one per subscribed key.
        let mut by_key: BTreeMap<usize, Vec<(Text, Vec<Bytes>)>> = BTreeMap::new();
        for m in live.iter().filter_map(|c| self.models.get(c)) {
            for (id, (key, p)) in &m.pubs {
                by_key
                    .entry(*key)
                    .or_default()
                    .push((id.clone(), p.clone()));
            }
        }
        for v in by_key.values_mut() {
            v.sort();
        }
        by_key
    }
}

/// A publish of `payload` under `register_id`, without attributes (the workload sets none).
fn publish(data_info_id: DataInfoId, register_id: Text, payload: Vec<Bytes>) -> Command {
    Command::Publish {
        data_info_id,
        register_id,
        payload: payload.into(),
        attributes: vec![],
    }
}
