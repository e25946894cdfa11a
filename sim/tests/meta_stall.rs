//! A stalled meta leader (`SIGSTOP`, a GC pause): its sockets stay open, so data and
//! session nodes learn nothing from a reset. They must notice its silence and find the new
//! leader before that leader's leases on them run out; otherwise it expels them all and the
//! registry empties (harness seed 3 on glommio, in CI). The run's checks hold all along:
//! no list may lack a live client's publisher.

use roster_sim::{SimConfig, run_config};
use std::time::Duration;

#[test]
fn nodes_leave_a_stalled_meta_leader_before_the_new_one_expels_them() {
    for seed in 0..6 {
        let mut cfg = SimConfig::small(seed).without_faults();
        cfg.metas = cfg.metas.max(3);
        cfg.fault_phase = Duration::from_secs(40);
        // Twice the meta lease (10 s): long enough for the new leader's leases to run out.
        cfg.meta_leader_stalls = vec![(Duration::from_secs(5), Duration::from_secs(20))];
        let o = run_config(cfg, false);
        if let Some((v, last)) = &o.failure {
            panic!("{}: {v}\n{}", o.config, last.join("\n"));
        }
        assert_eq!(o.stats.pauses, 1, "{}: the leader was stalled", o.config);
    }
}
