//! A meta voter replaced during the fault phase: with crashes, pauses, partitions and lossy
//! links, the leader replaces a voter by a joiner (asked again after a leader change), every
//! property the simulator checks holds, and the group ends with the joiner among as many
//! voters as it started with.

use roster_sim::{SimConfig, run_config};

#[test]
fn a_meta_voter_is_replaced_under_faults_and_every_check_holds() {
    for seed in 0..8 {
        let mut cfg = SimConfig::small(seed);
        cfg.metas = 3;
        cfg.replace_meta_voter = true;
        let o = run_config(cfg, false);
        if let Some((v, last)) = &o.failure {
            panic!("seed {seed}: {v}\n{}", last.join("\n"));
        }
        assert!(
            o.stats.voter_changes >= 1,
            "seed {seed}: no change accepted"
        );
        eprintln!(
            "seed {seed}: {} changes asked, {:?} run, {} crashes, voters {:?}",
            o.stats.voter_changes, o.stats.end, o.stats.crashes, o.stats.meta_voters
        );
        let voters = o
            .stats
            .meta_voters
            .clone()
            .expect("a meta leader at the end");
        assert_eq!(voters.len(), 3, "seed {seed}: {voters:?}");
        assert!(
            voters.contains(&4),
            "seed {seed}: the joiner votes: {voters:?}"
        );
    }
}
