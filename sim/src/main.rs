//! `roster-sim`: runs one seed (`--seed N`, `--trace` to print every event) or many
//! (`--seeds A..B`) and prints configurations, fault counts, convergence times and trace
//! hashes. A failure prints the seed, the violated property and the last events, and exits
//! non-zero.

use clap::Parser;
use roster_sim::{Outcome, SimConfig, World};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(about = "Deterministic simulation of a roster cluster under faults")]
struct Args {
    /// Run one seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Run a range of seeds, `A..B` (B excluded).
    #[arg(long)]
    seeds: Option<String>,
    /// Print every event of the run (with --seed).
    #[arg(long)]
    trace: bool,
    /// Override: run this many virtual seconds of faults/workload.
    #[arg(long)]
    fault_secs: Option<u64>,
    /// Use the CI seed set's scaled-down scenarios.
    #[arg(long)]
    small: bool,
    /// Override the shape: META,DATA,SESSIONS,CLIENTS (e.g. 3,5,3,50).
    #[arg(long)]
    shape: Option<String>,
    /// Override the liveness bound (virtual seconds after healing): a slow seed then fails
    /// and reports what had not converged by then.
    #[arg(long)]
    converge_secs: Option<u64>,
}

/// Wall-clock time, only to report throughput: it never feeds the simulation.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = std::time::Instant::now();
    let v = f();
    (v, start.elapsed())
}

fn configure(seed: u64, args: &Args) -> SimConfig {
    let mut c = if args.small {
        SimConfig::small(seed)
    } else {
        SimConfig::from_seed(seed)
    };
    if let Some(s) = args.fault_secs {
        c.fault_phase = Duration::from_secs(s);
    }
    if let Some(s) = args.converge_secs {
        c.converge_bound = Duration::from_secs(s);
    }
    if let Some(shape) = &args.shape {
        let v: Vec<usize> = shape.split(',').filter_map(|x| x.parse().ok()).collect();
        if let [m, d, s, cl] = v[..] {
            (c.metas, c.datas, c.sessions, c.clients) = (m, d, s, cl);
        }
    }
    c
}

fn report_failure(o: &Outcome) {
    if let Some((v, last)) = &o.failure {
        eprintln!("FAILED seed {}: {v}", o.config.seed);
        eprintln!("  config: {}", o.config);
        eprintln!("  last events:");
        for l in last {
            eprintln!("    {l}");
        }
        eprintln!(
            "  replay: cargo run -p roster-sim --release -- --seed {} --trace",
            o.config.seed
        );
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(seed) = args.seed {
        let cfg = configure(seed, &args);
        println!("{cfg}");
        let (o, wall) = timed(|| World::new(cfg, args.trace).run());
        let s = &o.stats;
        println!(
            "faults: {} crashes, {} pauses, {} partitions, {} connection breaks, {} duplicates, {} client cuts, {} client deaths, {} read stalls, {} black-holed connects; {} ops",
            s.crashes,
            s.pauses,
            s.partitions,
            s.breaks,
            s.duplicated,
            s.client_cuts,
            s.client_deaths,
            s.read_stalls,
            s.black_holed,
            s.ops
        );
        println!(
            "{} pushes delivered, {} of them deltas",
            s.pushes, s.delta_pushes
        );
        println!("slot tables installed: {}", s.epochs);
        println!(
            "virtual {:?}, converged {:?} after healing; {} messages in {:?} wall ({:.0} msg/s); trace hash {:016x}",
            s.end,
            s.converged_after,
            s.delivered,
            wall,
            s.delivered as f64 / wall.as_secs_f64(),
            o.hash
        );
        if o.failure.is_some() {
            report_failure(&o);
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    let Some(range) = &args.seeds else {
        eprintln!("give --seed N or --seeds A..B");
        return ExitCode::FAILURE;
    };
    let Some((a, b)) = range
        .split_once("..")
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
    else {
        eprintln!("--seeds takes A..B");
        return ExitCode::FAILURE;
    };
    let mut failed = Vec::new();
    let mut converge = Vec::new();
    let mut slowest = Vec::new();
    let mut totals = roster_sim::Stats::default();
    let mut virt = Duration::ZERO;
    let mut epochs = roster_sim::epochs::EpochCounts::default();
    let mut cold_max = 0;
    let mut per_fault_max = 0.0f64;
    let (_, wall) = timed(|| {
        for seed in a..b {
            let o = World::new(configure(seed, &args), false).run();
            let s = &o.stats;
            totals.delivered += s.delivered;
            totals.crashes += s.crashes;
            totals.black_holed += s.black_holed;
            totals.pauses += s.pauses;
            totals.partitions += s.partitions;
            totals.breaks += s.breaks;
            totals.duplicated += s.duplicated;
            totals.client_cuts += s.client_cuts;
            totals.client_deaths += s.client_deaths;
            totals.read_stalls += s.read_stalls;
            totals.ops += s.ops;
            virt += s.end;
            epochs.cold += s.epochs.cold;
            epochs.faulty += s.epochs.faulty;
            epochs.faults += s.epochs.faults;
            epochs.settle += s.epochs.settle;
            epochs.quiet += s.epochs.quiet;
            cold_max = cold_max.max(s.epochs.cold);
            if s.epochs.faults > 0 {
                per_fault_max = per_fault_max.max(s.epochs.faulty as f64 / s.epochs.faults as f64);
            }
            if let Some(c) = s.converged_after {
                converge.push(c);
                slowest.push((c, seed));
            }
            if o.failure.is_some() {
                report_failure(&o);
                failed.push(seed);
            }
        }
    });
    converge.sort();
    slowest.sort_by(|a, b| b.cmp(a));
    slowest.truncate(8);
    println!(
        "seeds {a}..{b}: {} passed, {} failed {:?}",
        (b - a) as usize - failed.len(),
        failed.len(),
        failed
    );
    println!(
        "faults: {} crashes, {} pauses, {} partitions, {} connection breaks, {} duplicates, {} client cuts, {} client deaths, {} read stalls, {} black-holed connects; {} ops",
        totals.crashes,
        totals.pauses,
        totals.partitions,
        totals.breaks,
        totals.duplicated,
        totals.client_cuts,
        totals.client_deaths,
        totals.read_stalls,
        totals.black_holed,
        totals.ops
    );
    println!(
        "slot tables installed: {epochs}; cold start at most {cold_max}, at most {per_fault_max:.2} per fault in a run"
    );
    println!(
        "convergence after healing: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        percentile(&converge, 0.5),
        percentile(&converge, 0.9),
        percentile(&converge, 0.99),
        converge.last().copied().unwrap_or_default()
    );
    let slow: Vec<String> = slowest
        .iter()
        .map(|(c, seed)| format!("{seed} ({c:?})"))
        .collect();
    println!("slowest to converge: {}", slow.join(", "));
    println!(
        "{} messages, {:?} virtual, in {:?} wall: {:.0} msg/s",
        totals.delivered,
        virt,
        wall,
        totals.delivered as f64 / wall.as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
