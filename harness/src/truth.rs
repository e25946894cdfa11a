//! Ground truth and the checks against it, the simulator's on real processes.
//!
//! The truth is what the clients did: a publisher is *live* from its publication until it
//! is unregistered or its client process is killed, and *registered* once its session
//! acknowledged it. What subscribers received is checked against it:
//!
//! - per subscription, versions strictly increase (a violation at once);
//! - a registered live publisher once listed by a subscriber and then missing from a later
//!   list of it is a *disappearance* gap, from that list until a list has it again (or it
//!   ends); one never listed [`GRACE`] after it was registered (or after the subscriber
//!   started) is a *late* gap. Gaps are judged against the faults' excuse windows at the
//!   end (`report`): outside them they are violations;
//! - [`Truth::converged`]: every live subscriber's list is exactly the live publishers
//!   (a publisher not yet acknowledged may be in or out).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long a registered publisher may take to reach a subscriber's list.
pub const GRACE: Duration = Duration::from_secs(5);

/// How far apart in time the orchestrator may read two lines that happened in the other
/// order: lines are stamped when read, and each client has its own pipe. A list that
/// already lacks a publisher can be read a few milliseconds before its client's
/// `unregister` line; such a "gap", ended by the publisher's own end within this skew, is
/// the reading order, not the registry.
pub const READ_SKEW: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Pub {
    key: String,
    client: usize,
    registered: Option<Instant>,
}

#[derive(Debug)]
struct Sub {
    client: usize,
    inc: u32,
    key: String,
    started: Instant,
    version: Option<(u64, u64)>,
    list: Option<BTreeSet<String>>,
    seen: HashSet<String>,
    /// Open gaps by register id: (since, disappeared).
    missing: HashMap<String, (Instant, bool)>,
}

/// A stretch in which a live registered publisher was not in a subscriber's list.
#[derive(Debug, Clone)]
pub struct Gap {
    /// The key.
    pub key: String,
    /// The publisher.
    pub rid: String,
    /// The publisher's client.
    pub pub_client: usize,
    /// The subscriber's client.
    pub sub_client: usize,
    /// Listed before and then dropped (else: never listed in time).
    pub disappeared: bool,
    /// Disappearance: the list without it. Late: its registration (or the subscriber's
    /// start, if later); the gap proper begins `GRACE` after.
    pub from: Instant,
    /// A list with it again, or its end, or the subscriber's end, or the run's.
    pub to: Instant,
}

/// A violation found as it happened.
#[derive(Debug, Clone)]
pub struct Violation {
    /// When.
    pub at: Instant,
    /// What.
    pub what: String,
}

/// The truth and what the subscribers saw.
#[derive(Debug, Default)]
pub struct Truth {
    live: BTreeMap<String, Pub>,
    subs: Vec<Sub>,
    /// Each client's session (None: not connected), by client index.
    pub sessions: HashMap<usize, Option<String>>,
    /// The running incarnation of each client: lines of a killed one still in the pipe
    /// are ignored (the truth ended its publishers when it was killed).
    alive: HashMap<usize, u32>,
    /// Gaps closed so far.
    pub gaps: Vec<Gap>,
    /// Violations found as they happened (version order, malformed lines).
    pub violations: Vec<Violation>,
    /// Lists received.
    pub lists: u64,
    /// Publications made.
    pub publications: u64,
}

impl Truth {
    /// A client incarnation started at `t`, subscribing to `keys`.
    pub fn client_started(&mut self, t: Instant, client: usize, inc: u32, keys: &[String]) {
        for key in keys {
            self.subs.push(Sub {
                client,
                inc,
                key: key.clone(),
                started: t,
                version: None,
                list: None,
                seen: HashSet::new(),
                missing: HashMap::new(),
            });
        }
        self.sessions.insert(client, None);
        self.alive.insert(client, inc);
    }

    /// A client process was killed at `t`: its publishers and subscriptions end.
    pub fn client_killed(&mut self, t: Instant, client: usize) {
        let rids: Vec<String> = self
            .live
            .iter()
            .filter(|(_, p)| p.client == client)
            .map(|(r, _)| r.clone())
            .collect();
        for rid in rids {
            self.end_pub(t, &rid, Duration::ZERO);
        }
        let (gone, kept): (Vec<Sub>, Vec<Sub>) = std::mem::take(&mut self.subs)
            .into_iter()
            .partition(|s| s.client == client);
        self.subs = kept;
        for s in gone {
            self.close_all(t, s);
        }
        self.sessions.insert(client, None);
        self.alive.remove(&client);
    }

    fn close_all(&mut self, t: Instant, s: Sub) {
        for (rid, (from, disappeared)) in s.missing {
            let Some(p) = self.live.get(&rid) else {
                continue;
            };
            self.gaps.push(Gap {
                key: s.key.clone(),
                pub_client: p.client,
                rid,
                sub_client: s.client,
                disappeared,
                from,
                to: t,
            });
        }
    }

    /// Publisher `rid` ended at `t`: its open gaps close there, except those younger than
    /// `skew` (the end was read late, see [`READ_SKEW`]).
    fn end_pub(&mut self, t: Instant, rid: &str, skew: Duration) {
        let Some(p) = self.live.remove(rid) else {
            return;
        };
        for s in &mut self.subs {
            if let Some((from, disappeared)) = s.missing.remove(rid) {
                if t.saturating_duration_since(from) <= skew {
                    continue;
                }
                self.gaps.push(Gap {
                    key: p.key.clone(),
                    rid: rid.to_string(),
                    pub_client: p.client,
                    sub_client: s.client,
                    disappeared,
                    from,
                    to: t,
                });
            }
        }
    }

    /// A line client `client` (incarnation `inc`) printed, read at `t`.
    pub fn line(&mut self, t: Instant, client: usize, inc: u32, line: &str) {
        if self.alive.get(&client) != Some(&inc) {
            return;
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) => {
                self.violations.push(Violation {
                    at: t,
                    what: format!("client {client}: not a JSON event line: {line:?}"),
                });
                return;
            }
        };
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        match v["ev"].as_str() {
            Some("publish") => {
                self.publications += 1;
                self.live.insert(
                    s("rid"),
                    Pub {
                        key: s("key"),
                        client,
                        registered: None,
                    },
                );
            }
            Some("registered") => {
                if let Some(p) = self.live.get_mut(&s("rid")) {
                    p.registered.get_or_insert(t);
                }
            }
            Some("unregister") => self.end_pub(t, &s("rid"), READ_SKEW),
            Some("session") => {
                self.sessions
                    .insert(client, v["addr"].as_str().map(str::to_string));
            }
            Some("list") => {
                let version = (
                    v["epoch"].as_u64().unwrap_or(0),
                    v["seq"].as_u64().unwrap_or(0),
                );
                let rids: BTreeSet<String> = v["rids"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|r| r.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                self.list(t, client, inc, &s("key"), version, rids);
            }
            _ => self.violations.push(Violation {
                at: t,
                what: format!("client {client}: unknown event {line:?}"),
            }),
        }
    }

    fn list(
        &mut self,
        t: Instant,
        client: usize,
        inc: u32,
        key: &str,
        version: (u64, u64),
        rids: BTreeSet<String>,
    ) {
        self.lists += 1;
        let Some(i) = self
            .subs
            .iter()
            .position(|s| s.client == client && s.inc == inc && s.key == key)
        else {
            return;
        };
        let sub = &mut self.subs[i];
        if let Some(old) = sub.version
            && version <= old
        {
            self.violations.push(Violation {
                at: t,
                what: format!(
                    "client {client} (incarnation {inc}) key {key}: version {}.{} after {}.{}",
                    version.0, version.1, old.0, old.1
                ),
            });
        }
        sub.version = Some(version);
        let mut closed = Vec::new();
        for (rid, p) in &self.live {
            if p.key != key || p.registered.is_none() {
                continue;
            }
            if rids.contains(rid) {
                if let Some((from, disappeared)) = sub.missing.remove(rid) {
                    closed.push(Gap {
                        key: key.to_string(),
                        rid: rid.clone(),
                        pub_client: p.client,
                        sub_client: client,
                        disappeared,
                        from,
                        to: t,
                    });
                }
            } else if sub.seen.contains(rid) {
                sub.missing.entry(rid.clone()).or_insert((t, true));
            }
        }
        sub.seen.extend(rids.iter().cloned());
        sub.list = Some(rids);
        self.gaps.extend(closed);
        self.tick(t);
    }

    /// Opens late gaps: registered publishers a subscriber has not listed within `GRACE`.
    pub fn tick(&mut self, t: Instant) {
        for sub in &mut self.subs {
            for (rid, p) in &self.live {
                let Some(reg) = p.registered else { continue };
                if p.key != sub.key
                    || sub.seen.contains(rid)
                    || sub.list.as_ref().is_some_and(|l| l.contains(rid))
                {
                    continue;
                }
                let base = reg.max(sub.started);
                if t >= base + GRACE {
                    sub.missing.entry(rid.clone()).or_insert((base, false));
                }
            }
        }
    }

    /// Whether every live subscription's list is exactly the live publishers of its key
    /// (unacknowledged ones may be in or out); else the first difference.
    pub fn converged(&self) -> Result<(), String> {
        for sub in &self.subs {
            let Some(list) = &sub.list else {
                return Err(format!("client {} has no list of {}", sub.client, sub.key));
            };
            for (rid, p) in &self.live {
                if p.key == sub.key && p.registered.is_some() && !list.contains(rid) {
                    return Err(format!("client {} lacks {rid} in {}", sub.client, sub.key));
                }
            }
            if let Some(extra) = list
                .iter()
                .find(|r| self.live.get(*r).is_none_or(|p| p.key != sub.key))
            {
                return Err(format!(
                    "client {} still lists {extra} in {}",
                    sub.client, sub.key
                ));
            }
        }
        Ok(())
    }

    /// Closes every open gap at `t` (the end of the run).
    pub fn finish(&mut self, t: Instant) {
        for s in std::mem::take(&mut self.subs) {
            self.close_all(t, s);
        }
    }

    /// Whether every live publisher is acknowledged.
    pub fn all_registered(&self) -> bool {
        self.live.values().all(|p| p.registered.is_some())
    }

    /// Live publishers now (registered or not).
    pub fn live_publishers(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        vec!["k".to_string()]
    }

    #[test]
    fn a_dropped_publisher_is_a_gap_and_an_older_version_a_violation() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut t = Truth::default();
        t.client_started(t0, 0, 1, &keys());
        t.client_started(t0, 1, 1, &keys());
        t.line(at(1), 0, 1, r#"{"ev":"publish","key":"k","rid":"a"}"#);
        t.line(
            at(2),
            0,
            1,
            r#"{"ev":"registered","key":"k","rid":"a","rev":1}"#,
        );
        assert!(t.converged().is_err(), "no list yet");
        t.line(
            at(3),
            1,
            1,
            r#"{"ev":"list","key":"k","epoch":1,"seq":1,"rids":["a"]}"#,
        );
        t.line(
            at(4),
            0,
            1,
            r#"{"ev":"list","key":"k","epoch":1,"seq":1,"rids":["a"]}"#,
        );
        assert_eq!(t.converged(), Ok(()));
        t.line(
            at(5),
            1,
            1,
            r#"{"ev":"list","key":"k","epoch":1,"seq":2,"rids":[]}"#,
        );
        assert!(t.converged().is_err());
        t.line(
            at(9),
            1,
            1,
            r#"{"ev":"list","key":"k","epoch":1,"seq":3,"rids":["a"]}"#,
        );
        assert_eq!(t.gaps.len(), 1);
        assert!(t.gaps[0].disappeared);
        assert_eq!(t.gaps[0].to - t.gaps[0].from, Duration::from_millis(4));
        assert!(t.violations.is_empty());
        t.line(
            at(10),
            1,
            1,
            r#"{"ev":"list","key":"k","epoch":1,"seq":3,"rids":["a"]}"#,
        );
        assert_eq!(t.violations.len(), 1, "a repeated version is a violation");
    }

    #[test]
    fn a_list_read_just_before_its_unregister_line_is_no_gap() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut t = Truth::default();
        t.client_started(t0, 0, 1, &keys());
        t.client_started(t0, 1, 1, &keys());
        for rid in ["a", "b"] {
            t.line(
                at(1),
                0,
                1,
                &format!(r#"{{"ev":"publish","key":"k","rid":"{rid}"}}"#),
            );
            let registered = format!(r#"{{"ev":"registered","key":"k","rid":"{rid}","rev":1}}"#);
            t.line(at(2), 0, 1, &registered);
        }
        let list = |seq, rids: &str| {
            format!(r#"{{"ev":"list","key":"k","epoch":1,"seq":{seq},"rids":[{rids}]}}"#)
        };
        t.line(at(3), 1, 1, &list(1, r#""a","b""#));
        // `a` unregistered: the subscriber's list is read 10 ms before the line saying so.
        t.line(at(100), 1, 1, &list(2, r#""b""#));
        t.line(at(110), 0, 1, r#"{"ev":"unregister","key":"k","rid":"a"}"#);
        assert!(t.gaps.is_empty(), "the reading order, not a gap");
        // `b` missing for longer than the skew before its unregister: a gap.
        t.line(at(200), 1, 1, &list(3, ""));
        t.line(at(500), 0, 1, r#"{"ev":"unregister","key":"k","rid":"b"}"#);
        assert_eq!(t.gaps.len(), 1);
        assert_eq!(t.gaps[0].rid, "b");
    }

    #[test]
    fn a_publisher_never_listed_is_late_after_the_grace_and_a_killed_one_must_go() {
        let t0 = Instant::now();
        let mut t = Truth::default();
        t.client_started(t0, 0, 1, &keys());
        t.client_started(t0, 1, 1, &keys());
        t.line(
            t0,
            1,
            1,
            r#"{"ev":"list","key":"k","epoch":1,"seq":1,"rids":[]}"#,
        );
        t.line(t0, 0, 1, r#"{"ev":"publish","key":"k","rid":"a"}"#);
        t.line(
            t0,
            0,
            1,
            r#"{"ev":"registered","key":"k","rid":"a","rev":1}"#,
        );
        t.tick(t0 + GRACE - Duration::from_millis(1));
        t.client_killed(t0 + GRACE - Duration::from_millis(1), 0);
        assert!(t.gaps.is_empty(), "within the grace");
        assert!(
            t.converged().is_ok(),
            "a killed client's publisher is not live"
        );
        t.line(t0, 0, 1, r#"{"ev":"publish","key":"k","rid":"x"}"#);
        assert_eq!(
            t.live_publishers(),
            0,
            "lines of a killed client are ignored"
        );
        t.line(t0, 1, 1, r#"{"ev":"publish","key":"k","rid":"b"}"#);
        t.line(
            t0,
            1,
            1,
            r#"{"ev":"registered","key":"k","rid":"b","rev":1}"#,
        );
        t.tick(t0 + GRACE);
        t.finish(t0 + GRACE * 2);
        assert_eq!(t.gaps.len(), 1);
        assert!(!t.gaps[0].disappeared);
    }
}
