//! The figures at the end of a run: faults by kind with their convergence times, gaps
//! judged against the faults' excuse windows, violations, and the slot-table epochs the
//! nodes logged.

use crate::truth::{GRACE, Gap};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// A stretch of time in which some gaps are excused (docs/harness.md, "Excused windows").
#[derive(Debug, Clone)]
pub struct Window {
    /// The fault's kind.
    pub kind: String,
    /// The fault's start.
    pub start: Instant,
    /// Its heal plus the failover (or settle) allowance; `None` while active.
    pub end: Option<Instant>,
    /// Clients whose own host or session the fault touched: their publishers and their
    /// subscriptions are excused.
    pub clients: BTreeSet<usize>,
    /// Clients whose own lists only are excused (`--strict-failover`: on a session killed
    /// or paused, which cannot push to them; their publishers must stay listed).
    pub subscribers: BTreeSet<usize>,
    /// Touches meta or data nodes: publishers not yet listed are excused (late gaps).
    pub delays: bool,
}

/// Which window excuses `gap`, if the union of the windows that concern it covers it.
pub fn excuse(gap: &Gap, windows: &[Window], run_end: Instant) -> Option<String> {
    let from = if gap.disappeared {
        gap.from
    } else {
        gap.from + GRACE
    };
    let mut relevant: Vec<&Window> = windows
        .iter()
        .filter(|w| {
            w.clients.contains(&gap.pub_client)
                || w.clients.contains(&gap.sub_client)
                || w.subscribers.contains(&gap.sub_client)
                || (w.delays && !gap.disappeared)
        })
        .collect();
    relevant.sort_by_key(|w| w.start);
    let mut covered = from;
    let mut kind = None;
    for w in relevant {
        let end = w.end.unwrap_or(run_end);
        if w.start <= covered && end > covered {
            covered = end;
            kind.get_or_insert_with(|| w.kind.clone());
        }
    }
    (covered >= gap.to).then(|| kind.unwrap_or_else(|| "none".into()))
}

/// Nearest-rank percentile of sorted `v`.
pub fn percentile(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Slot-table installs found in the logs: every epoch seen, and installs per log.
#[derive(Debug, Default)]
pub struct Epochs {
    /// Distinct epochs.
    pub seen: BTreeSet<u64>,
    /// Install lines per log file.
    pub installs: BTreeMap<String, usize>,
}

/// Reads every `*.log` of `dir` for lines naming a table install with `epoch=N`
/// (the meta leader's "slot table installed", the sessions' debug "table installed").
pub fn epochs(dir: &Path) -> Epochs {
    let mut e = Epochs::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return e;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "log") {
            continue;
        }
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for line in String::from_utf8_lossy(&text).lines() {
            if let Some(n) = install_epoch(line) {
                e.seen.insert(n);
                *e.installs.entry(name.clone()).or_default() += 1;
            }
        }
    }
    e
}

/// The epoch of a table-install log line, tolerant of colour codes and quoting.
fn install_epoch(line: &str) -> Option<u64> {
    if !line.contains("table installed") {
        return None;
    }
    let rest = &line[line.find("epoch")? + "epoch".len()..];
    let digits: String = rest
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Figures of one fault kind.
#[derive(Debug, Default)]
pub struct KindStats {
    /// Faults of the kind.
    pub count: usize,
    /// Heal → all lists correct, per fault that converged.
    pub convergence: Vec<Duration>,
    /// Gaps excused by the kind's windows, and their longest.
    pub excused_gaps: usize,
    /// The longest excused gap.
    pub longest_gap: Duration,
    /// The longest stretch in which some list was wrong, counted for the fault during
    /// which (from its start to the next fault's) it began; client kills and churn in that
    /// time count too.
    pub longest_wrong: Duration,
}

/// Formats the kinds' table.
pub fn table(kinds: &BTreeMap<String, KindStats>) -> String {
    let ms = |d: Duration| d.as_millis();
    let mut s = format!(
        "{:<18} {:>5} {:>9} {:>9} {:>9} {:>10} {:>7} {:>9}\n",
        "fault kind", "count", "conv p50", "conv p99", "conv max", "wrong max", "gaps", "gap max"
    );
    for (k, st) in kinds {
        let mut c = st.convergence.clone();
        c.sort();
        let _ = writeln!(
            s,
            "{:<18} {:>5} {:>7}ms {:>7}ms {:>7}ms {:>8}ms {:>7} {:>7}ms",
            k,
            st.count,
            ms(percentile(&c, 50.0)),
            ms(percentile(&c, 99.0)),
            ms(c.last().copied().unwrap_or_default()),
            ms(st.longest_wrong),
            st.excused_gaps,
            ms(st.longest_gap)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(from: Instant, to: Instant, disappeared: bool) -> Gap {
        Gap {
            key: "k".into(),
            rid: "r".into(),
            pub_client: 1,
            sub_client: 2,
            disappeared,
            from,
            to,
        }
    }

    #[test]
    fn a_gap_is_excused_only_inside_windows_that_concern_its_clients() {
        let t = Instant::now();
        let s = |n| t + Duration::from_secs(n);
        let w = |a, b, clients: &[usize], delays| Window {
            kind: "x".into(),
            start: s(a),
            end: Some(s(b)),
            clients: clients.iter().copied().collect(),
            subscribers: BTreeSet::new(),
            delays,
        };
        let g = gap(s(5), s(8), true);
        assert_eq!(excuse(&g, &[w(4, 9, &[1], false)], s(99)), Some("x".into()));
        assert_eq!(
            excuse(&g, &[w(4, 9, &[3], true)], s(99)),
            None,
            "other clients"
        );
        assert_eq!(
            excuse(&g, &[w(4, 7, &[2], false)], s(99)),
            None,
            "ends early"
        );
        let chained = [w(4, 6, &[2], false), w(6, 9, &[1], false)];
        assert!(excuse(&g, &chained, s(99)).is_some(), "windows chain");
        let subs_only = Window {
            subscribers: [1].into(),
            ..w(4, 9, &[], false)
        };
        assert!(
            excuse(&g, std::slice::from_ref(&subs_only), s(99)).is_none(),
            "its publisher"
        );
        let own_list = Gap {
            sub_client: 1,
            pub_client: 3,
            ..g.clone()
        };
        assert!(
            excuse(&own_list, &[subs_only], s(99)).is_some(),
            "its own list"
        );
        let late = gap(s(0), s(8), false);
        assert!(excuse(&late, &[w(4, 9, &[], true)], s(99)).is_some());
        assert!(excuse(&late, &[w(6, 9, &[], true)], s(99)).is_none());
    }

    #[test]
    fn install_lines_give_their_epoch_and_others_none() {
        assert_eq!(
            install_epoch("2026 INFO roster: slot table installed epoch=12 slots=256"),
            Some(12)
        );
        assert_eq!(
            install_epoch("DEBUG roster_shell::hooks: table installed epoch=3"),
            Some(3)
        );
        assert_eq!(install_epoch("table installed"), None);
        assert_eq!(install_epoch("INFO epoch=4 leader"), None);
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
    }
}
