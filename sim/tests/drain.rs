//! Drains and decommissions in the simulator (`roster_sim::world::ops`): a session drained
//! and a data node decommissioned mid-run on healthy clusters of the CI seed set's shapes,
//! with the run's checks all along (no list lacks a live client's publisher) and the
//! operator's after the bound (the session kept no client, the data node holds no slot).

use roster_sim::world::ops::{OpsAction, OpsStep};
use roster_sim::{SimConfig, run_config};
use std::time::Duration;

fn step(at: u64, action: OpsAction) -> OpsStep {
    OpsStep {
        at: Duration::from_secs(at),
        action,
    }
}

/// Seed `seed`'s shape, healthy, with room to move clients and slots, running `plan`.
fn scenario(seed: u64, plan: Vec<OpsStep>) -> SimConfig {
    let mut cfg = SimConfig::small(seed).without_faults();
    cfg.clients = cfg.clients.max(4);
    cfg.sessions = cfg.sessions.max(2);
    cfg.datas = cfg.datas.max(2);
    cfg.fault_phase = Duration::from_secs(16);
    cfg.ops = plan;
    cfg
}

fn run(cfg: SimConfig) {
    let steps = cfg.ops.len();
    let o = run_config(cfg, false);
    if let Some((v, last)) = &o.failure {
        panic!("{}: {v}\n{}", o.config, last.join("\n"));
    }
    assert_eq!(o.stats.operator_steps, steps, "{}", o.config);
}

#[test]
fn a_drained_session_hands_its_clients_over_without_unlisting_anyone() {
    for seed in 0..6 {
        run(scenario(
            seed,
            vec![
                step(3, OpsAction::Drain(0, true)),
                step(13, OpsAction::Drain(0, false)),
            ],
        ));
    }
}

#[test]
fn a_decommissioned_data_node_is_emptied_without_unlisting_anyone() {
    for seed in 0..6 {
        run(scenario(
            seed,
            vec![
                step(3, OpsAction::Decommission(0, true)),
                step(13, OpsAction::Decommission(0, false)),
            ],
        ));
    }
}
