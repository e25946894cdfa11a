//! `GET /metrics`: every node of the process, in the Prometheus text format (0.0.4). Each
//! node's stats are read inside its loop (`stats()`: plain values, the gauges computed
//! there), then written by `prometheus-client`'s encoder, so names, help, types, label
//! escaping and histogram buckets follow the format without code of ours. Every sample is
//! labelled `role` and `node` (the node's name as its log lines give it). What each metric
//! means: docs/operations.md, "Metrics".
//!
//! A node that does not answer within the ask timeout is left out of this scrape (and
//! counted in `roster_admin_scrape_errors`), rather than failing the whole page.

use crate::server::Shared;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use roster_core::data::DataStats;
use roster_core::meta::MetaStats;
use roster_core::session::SessionStats;
use roster_core::stats::Histogram;

pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(cx): State<Shared>) -> impl IntoResponse {
    let p = &cx.process;
    let mut scrape = Scrape::default();
    for m in &p.metas {
        match m.ask(|n, _| n.stats()).await {
            Ok(s) => scrape.metas.push((m.name.clone(), s)),
            Err(_) => scrape.errors += 1,
        }
    }
    for d in &p.datas {
        match d.ask(|n, _| n.stats()).await {
            Ok(s) => scrape.datas.push((d.name.clone(), s)),
            Err(_) => scrape.errors += 1,
        }
    }
    for s in &p.sessions {
        match s.ask(|n, _| n.stats()).await {
            Ok(st) => scrape.sessions.push((s.name.clone(), st)),
            Err(_) => scrape.errors += 1,
        }
    }
    if cx.tls.http().is_some() {
        scrape.tls_handshake_timeouts = Some(cx.tls.handshake_timeouts());
    }
    let body = render(scrape);
    ([(CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], body)
}

/// Renders one scrape as Prometheus text.
pub fn render(scrape: Scrape) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_text::encode(&mut out, &registry);
    out
}

/// The stats of every node that answered, by role, with the node's name.
#[derive(Debug, Default)]
pub struct Scrape {
    /// Meta nodes.
    pub metas: Vec<(String, MetaStats)>,
    /// Data nodes.
    pub datas: Vec<(String, DataStats)>,
    /// Session nodes.
    pub sessions: Vec<(String, SessionStats)>,
    /// Nodes that did not answer.
    pub errors: u64,
    /// Inbound connections closed for an unfinished TLS handshake, on every port of the
    /// process (`None` without TLS: the metric is left out).
    pub tls_handshake_timeouts: Option<u64>,
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// One plain-valued metric of a role: name (counters get `_total` from the encoder),
/// help, type, and how to read it from the role's stats.
type Plain<S> = (&'static str, &'static str, Kind, fn(&S) -> u64);

use Kind::{Counter as C, Gauge as G};

const META: &[Plain<MetaStats>] = &[
    (
        "roster_meta_is_leader",
        "1 if this meta node leads the group, else 0.",
        G,
        |s| u64::from(s.is_leader),
    ),
    (
        "roster_meta_leader_id",
        "The meta leader this node knows of (0: none known).",
        G,
        |s| s.leader_id.unwrap_or(0),
    ),
    ("roster_meta_term", "The Raft term.", G, |s| s.term),
    (
        "roster_meta_commit_index",
        "The last Raft log index known committed.",
        G,
        |s| s.commit_index,
    ),
    (
        "roster_meta_applied_index",
        "The last Raft log index applied.",
        G,
        |s| s.applied_index,
    ),
    (
        "roster_meta_members_version",
        "The membership's version.",
        G,
        |s| s.members_version,
    ),
    (
        "roster_meta_data_members",
        "Data processes in the membership.",
        G,
        |s| s.data_members,
    ),
    (
        "roster_meta_session_members",
        "Session processes in the membership.",
        G,
        |s| s.session_members,
    ),
    (
        "roster_meta_table_epoch",
        "The replicated slot table's epoch.",
        G,
        |s| s.table_epoch,
    ),
    (
        "roster_meta_protected_members",
        "Members whose lease ran out, kept by protection mode (leader only).",
        G,
        |s| s.protected,
    ),
    (
        "roster_meta_connections",
        "Connections open to this meta node (heartbeats and meta peers).",
        G,
        |s| s.connections,
    ),
    (
        "roster_meta_expelled",
        "Members expelled (lease ran out) by entries this process applied.",
        C,
        |s| s.expelled,
    ),
];

const DATA: &[Plain<DataStats>] = &[
    (
        "roster_data_publishers",
        "Live publishers held, over every slot (led or followed).",
        G,
        |s| s.publishers,
    ),
    (
        "roster_data_led_publishers",
        "Live publishers in the slots this node leads.",
        G,
        |s| s.led_publishers,
    ),
    (
        "roster_data_session_connections",
        "Session processes connected.",
        G,
        |s| s.session_connections,
    ),
    (
        "roster_data_data_connections",
        "Data processes connected.",
        G,
        |s| s.data_connections,
    ),
    ("roster_data_slots_led", "Slots this node leads.", G, |s| {
        s.slots_led
    }),
    (
        "roster_data_slots_followed",
        "Slots this node follows.",
        G,
        |s| s.slots_followed,
    ),
    (
        "roster_data_table_epoch",
        "The installed slot table's epoch.",
        G,
        |s| s.table_epoch,
    ),
    (
        "roster_data_follower_oplog_lag_entries",
        "Largest count of op-log entries a follower of a led slot has not acknowledged.",
        G,
        |s| s.follower_lag_entries,
    ),
    (
        "roster_data_followed_slots_behind",
        "Followed slots not caught up with their leader.",
        G,
        |s| s.followed_slots_behind,
    ),
    (
        "roster_data_write_batches",
        "Write batches from sessions served.",
        C,
        |s| s.write_batches,
    ),
    (
        "roster_data_write_batches_refused",
        "Write batches refused (moved, epoch mismatch, bad keys).",
        C,
        |s| s.write_batches_refused,
    ),
    (
        "roster_data_writes_applied",
        "Session write ops that changed a datum.",
        C,
        |s| s.writes_applied,
    ),
    (
        "roster_data_notifications_sent",
        "Change notifications sent to sessions.",
        C,
        |s| s.notifications_sent,
    ),
    (
        "roster_data_changes_notified",
        "Changes those notifications carried.",
        C,
        |s| s.changes_notified,
    ),
    (
        "roster_data_fetches_served",
        "Datum fetches served.",
        C,
        |s| s.fetches_served,
    ),
    (
        "roster_data_datums_fetched",
        "Datums those fetches returned.",
        C,
        |s| s.datums_fetched,
    ),
    (
        "roster_data_version_scans_served",
        "Version scans served.",
        C,
        |s| s.scans_served,
    ),
    (
        "roster_data_version_scan_repairs",
        "Keys version scans found a session behind on.",
        C,
        |s| s.scan_repairs,
    ),
    (
        "roster_data_tables_installed",
        "Slot tables installed.",
        C,
        |s| s.tables_installed,
    ),
    (
        "roster_data_leaderships_gained",
        "Times this node became a slot's leader.",
        C,
        |s| s.leaderships_gained,
    ),
    (
        "roster_data_leaderships_lost",
        "Times this node stopped leading a slot.",
        C,
        |s| s.leaderships_lost,
    ),
    (
        "roster_data_reconcile_runs",
        "Reconciliation runs started with a session.",
        C,
        |s| s.reconcile_runs,
    ),
    (
        "roster_data_reconcile_runs_completed",
        "Reconciliation runs completed.",
        C,
        |s| s.reconcile_runs_completed,
    ),
    (
        "roster_data_reconcile_publishers_added",
        "Publishers reconciliation added from a session's registrations.",
        C,
        |s| s.reconcile_added,
    ),
    (
        "roster_data_reconcile_publishers_removed",
        "Publishers reconciliation removed (their session no longer has them).",
        C,
        |s| s.reconcile_removed,
    ),
    (
        "roster_data_lease_publishers_removed",
        "Publishers removed because their session's lease lapsed.",
        C,
        |s| s.lease_removed,
    ),
];

const SESSION: &[Plain<SessionStats>] = &[
    ("roster_session_clients", "Client connections.", G, |s| {
        s.clients
    }),
    (
        "roster_session_publishers",
        "Publishers the session holds for its clients.",
        G,
        |s| s.publishers,
    ),
    (
        "roster_session_subscribers",
        "Subscriptions the session's clients hold.",
        G,
        |s| s.subscribers,
    ),
    (
        "roster_session_data_links",
        "Links to data nodes that are up.",
        G,
        |s| s.data_links,
    ),
    (
        "roster_session_table_epoch",
        "The installed slot table's epoch.",
        G,
        |s| s.table_epoch,
    ),
    (
        "roster_session_tables_installed",
        "Slot tables installed.",
        C,
        |s| s.tables_installed,
    ),
    (
        "roster_session_writes",
        "Publisher writes queued for a data leader.",
        C,
        |s| s.writes_queued,
    ),
    (
        "roster_session_writes_acked",
        "Writes a data leader acknowledged.",
        C,
        |s| s.writes_acked,
    ),
    (
        "roster_session_writes_dropped",
        "Writes dropped after the retry bound or from a full queue.",
        C,
        |s| s.writes_dropped,
    ),
    (
        "roster_session_write_batches_sent",
        "Write batches sent (retries included).",
        C,
        |s| s.write_batches_sent,
    ),
    (
        "roster_session_notifications_received",
        "Change notifications received from data leaders.",
        C,
        |s| s.notifications_received,
    ),
    (
        "roster_session_changes_received",
        "Changes those notifications carried.",
        C,
        |s| s.changes_received,
    ),
    (
        "roster_session_fetches_sent",
        "Datum fetches sent to data leaders.",
        C,
        |s| s.fetches_sent,
    ),
    (
        "roster_session_push_bytes",
        "Bytes of the pushes sent, frame headers included.",
        C,
        |s| s.push_bytes,
    ),
    (
        "roster_session_pushes_acked",
        "Pushes clients acknowledged.",
        C,
        |s| s.pushes_acked,
    ),
    (
        "roster_session_push_failures",
        "Pushes that timed out or were refused.",
        C,
        |s| s.push_failures,
    ),
    (
        "roster_session_pushes_in_flight",
        "Pushes sent and not yet acknowledged.",
        G,
        |s| s.pushes_in_flight,
    ),
    (
        "roster_session_push_bytes_in_flight",
        "Bytes of the pushes not yet acknowledged (waiting to be written or read).",
        G,
        |s| s.push_bytes_in_flight,
    ),
    (
        "roster_session_breakers_opened",
        "Times a client connection's push breaker opened.",
        C,
        |s| s.breakers_opened,
    ),
    (
        "roster_session_version_scans_sent",
        "Version scans sent.",
        C,
        |s| s.scans_sent,
    ),
    (
        "roster_session_version_scan_repairs",
        "Keys version scans found this session behind on.",
        C,
        |s| s.scan_repairs,
    ),
    (
        "roster_session_reconcile_answers",
        "Reconciliation queries and fetches answered for data leaders.",
        C,
        |s| s.reconcile_answers,
    ),
];

fn labels<'a>(role: &'static str, node: &'a str) -> [(&'static str, &'a str); 2] {
    [("role", role), ("node", node)]
}

fn plain<S>(
    enc: &mut DescriptorEncoder,
    role: &'static str,
    metrics: &[Plain<S>],
    nodes: &[(String, S)],
) -> std::fmt::Result {
    if nodes.is_empty() {
        return Ok(());
    }
    for (name, help, kind, read) in metrics {
        let t = match kind {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge => MetricType::Gauge,
        };
        let mut m = enc.encode_descriptor(name, help, None, t)?;
        for (node, s) in nodes {
            let l = labels(role, node);
            let mut f = m.encode_family(&l)?;
            let v = read(s);
            match kind {
                Kind::Counter => f.encode_counter::<NoLabelSet, _, u64>(&v, None)?,
                // Gauges are i64 in the format's encoder; our values fit.
                Kind::Gauge => f.encode_gauge(&i64::try_from(v).unwrap_or(i64::MAX))?,
            }
        }
    }
    Ok(())
}

fn histogram(
    enc: &mut DescriptorEncoder,
    (name, help): (&str, &str),
    rows: &[(&'static str, &str, &Histogram)],
) -> std::fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (role, node, h) in rows {
        // The encoder takes per-bucket counts and accumulates them itself.
        let mut buckets = Vec::with_capacity(17);
        let mut below = 0;
        for (bound, cumulative) in h.cumulative() {
            buckets.push((bound as f64 / 1e6, cumulative - below));
            below = cumulative;
        }
        buckets.push((f64::INFINITY, h.count() - below));
        let sum = h.sum_micros() as f64 / 1e6;
        let l = labels(role, node);
        let mut f = m.encode_family(&l)?;
        f.encode_histogram::<NoLabelSet>(sum, h.count(), &buckets, None)?;
    }
    Ok(())
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        plain(&mut enc, "meta", META, &self.metas)?;
        plain(&mut enc, "data", DATA, &self.datas)?;
        plain(&mut enc, "session", SESSION, &self.sessions)?;
        if !self.sessions.is_empty() {
            let help = "Pushes sent to clients, full lists or deltas.";
            let mut m =
                enc.encode_descriptor("roster_session_pushes", help, None, MetricType::Counter)?;
            for (node, s) in &self.sessions {
                let full = s.pushes_sent - s.delta_pushes_sent;
                for (kind, v) in [("full", full), ("delta", s.delta_pushes_sent)] {
                    let l = [("role", "session"), ("node", node.as_str()), ("kind", kind)];
                    m.encode_family(&l)?
                        .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
                }
            }
            let help = "Hellos, registrations and connections refused by a client limit.";
            let mut m = enc.encode_descriptor(
                "roster_session_limit_refusals",
                help,
                None,
                MetricType::Counter,
            )?;
            for (node, s) in &self.sessions {
                let r = &s.limit_refusals;
                for (limit, v) in [
                    ("max_clients", r.clients),
                    ("max_clients_per_address", r.clients_per_address),
                    ("max_registrations_per_conn", r.registrations),
                    ("max_publisher_bytes", r.publisher_bytes),
                    ("hello_timeout", r.hello_timeouts),
                ] {
                    let l = [
                        ("role", "session"),
                        ("node", node.as_str()),
                        ("limit", limit),
                    ];
                    m.encode_family(&l)?
                        .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
                }
            }
        }
        if !self.sessions.is_empty() {
            let help = "Hellos, publishes and subscriptions refused by the access rules.";
            let mut m = enc.encode_descriptor(
                "roster_session_access_denials",
                help,
                None,
                MetricType::Counter,
            )?;
            for (node, s) in &self.sessions {
                let d = &s.access_denials;
                for (access, v) in [
                    ("hello", d.hellos),
                    ("publish", d.publish),
                    ("subscribe", d.subscribe),
                ] {
                    let l = [
                        ("role", "session"),
                        ("node", node.as_str()),
                        ("access", access),
                    ];
                    m.encode_family(&l)?
                        .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
                }
            }
        }
        let rows = |f: fn(&SessionStats) -> &Histogram| -> Vec<(&'static str, &str, &Histogram)> {
            self.sessions
                .iter()
                .map(|(n, s)| ("session", n.as_str(), f(s)))
                .collect()
        };
        let help = "From the change at the data leader to the client's ack of the push carrying it: \
                    the leader's wait before notifying plus the session's time from the \
                    notification to the ack (each on its own clock).";
        histogram(
            &mut enc,
            ("roster_push_latency_seconds", help),
            &rows(|s| &s.push_latency),
        )?;
        let help =
            "From the session queueing a publisher write to the data leader's acknowledgement.";
        histogram(
            &mut enc,
            ("roster_session_write_latency_seconds", help),
            &rows(|s| &s.write_latency),
        )?;
        let help = "Nodes of this process that did not answer this scrape in time.";
        let mut m =
            enc.encode_descriptor("roster_admin_scrape_errors", help, None, MetricType::Gauge)?;
        m.encode_gauge(&i64::try_from(self.errors).unwrap_or(i64::MAX))?;
        if let Some(v) = self.tls_handshake_timeouts {
            let help = "Inbound connections closed because their TLS handshake was not done \
                        within tls.handshake_timeout_ms, on every port of the process.";
            let name = "roster_tls_handshake_timeouts";
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            m.encode_counter::<NoLabelSet, _, u64>(&v, None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_parse::Value;
    use std::time::Duration;

    fn parse(text: &str) -> prometheus_parse::Scrape {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text")
    }

    fn scrape() -> Scrape {
        let mut session = SessionStats {
            publishers: 3,
            pushes_sent: 5,
            delta_pushes_sent: 2,
            ..SessionStats::default()
        };
        session.push_latency.observe(Duration::from_micros(700));
        session.push_latency.observe(Duration::from_millis(30));
        let data = DataStats {
            publishers: 7,
            writes_applied: 11,
            ..DataStats::default()
        };
        let meta = MetaStats {
            is_leader: true,
            term: 4,
            ..MetaStats::default()
        };
        Scrape {
            metas: vec![("meta-1".into(), meta)],
            datas: vec![("data-1".into(), data)],
            sessions: vec![("session-1".into(), session)],
            errors: 0,
            tls_handshake_timeouts: Some(3),
        }
    }

    fn sample<'a>(
        s: &'a prometheus_parse::Scrape,
        name: &str,
        node: &str,
    ) -> &'a prometheus_parse::Sample {
        s.samples
            .iter()
            .find(|x| x.metric == name && x.labels.get("node") == Some(node))
            .unwrap_or_else(|| panic!("no {name} for {node}"))
    }

    #[test]
    fn every_metric_parses_with_its_type_help_and_labels() {
        let text = render(scrape());
        let s = parse(&text);
        // Every sample carries role and node, and every metric has help text.
        for x in &s.samples {
            // The process's own metrics (the scrape's, TLS's) are the process's, not a node's.
            let process_wide = ["roster_admin", "roster_tls"];
            assert!(
                x.labels.get("role").is_some()
                    || process_wide.iter().any(|p| x.metric.starts_with(p))
            );
            let base = x.metric.trim_end_matches("_sum").trim_end_matches("_count");
            assert!(s.docs.contains_key(base), "no help for {}", x.metric);
        }
        let gauge = |name, node| match sample(&s, name, node).value {
            Value::Gauge(v) => v,
            ref other => panic!("{name} is {other:?}, not a gauge"),
        };
        let counter = |name, node| match sample(&s, name, node).value {
            Value::Counter(v) => v,
            ref other => panic!("{name} is {other:?}, not a counter"),
        };
        assert_eq!(gauge("roster_session_publishers", "session-1"), 3.0);
        assert_eq!(gauge("roster_data_publishers", "data-1"), 7.0);
        assert_eq!(counter("roster_data_writes_applied_total", "data-1"), 11.0);
        assert_eq!(gauge("roster_meta_is_leader", "meta-1"), 1.0);
        assert_eq!(gauge("roster_meta_term", "meta-1"), 4.0);
        let timeouts = s
            .samples
            .iter()
            .find(|x| x.metric == "roster_tls_handshake_timeouts_total")
            .map(|x| x.value.clone());
        assert_eq!(timeouts, Some(Value::Counter(3.0)));
        let kinds: Vec<(String, f64)> = s
            .samples
            .iter()
            .filter(|x| x.metric == "roster_session_pushes_total")
            .map(|x| {
                (
                    x.labels.get("kind").unwrap_or("").to_string(),
                    x.value.clone(),
                )
            })
            .map(|(k, v)| match v {
                Value::Counter(v) => (k, v),
                other => panic!("pushes is {other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [("full".to_string(), 3.0), ("delta".to_string(), 2.0)]
        );
        let Value::Histogram(buckets) =
            &sample(&s, "roster_push_latency_seconds", "session-1").value
        else {
            panic!("push latency is not a histogram");
        };
        let at = |le: f64| buckets.iter().find(|b| b.less_than == le).map(|b| b.count);
        assert_eq!(at(0.0005), Some(0.0));
        assert_eq!(at(0.001), Some(1.0));
        assert_eq!(at(0.05), Some(2.0));
        assert_eq!(at(f64::INFINITY), Some(2.0));
        let count = sample(&s, "roster_push_latency_seconds_count", "session-1");
        assert_eq!(count.value, Value::Untyped(2.0));
    }

    #[test]
    fn a_role_without_nodes_exposes_nothing_of_its_own() {
        let mut sc = scrape();
        sc.metas.clear();
        sc.tls_handshake_timeouts = None;
        let s = parse(&render(sc));
        assert!(
            s.samples
                .iter()
                .all(|x| !x.metric.starts_with("roster_meta_")
                    && !x.metric.starts_with("roster_tls"))
        );
        assert!(
            s.samples
                .iter()
                .any(|x| x.metric.starts_with("roster_data_"))
        );
    }
}
