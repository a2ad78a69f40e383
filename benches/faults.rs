//! The randomized fault series of issue 13 — a measurement, not a test:
//!
//! ```text
//! RECKON_BENCH_TRIALS=100 cargo bench --bench faults
//! ```
//!
//! (ZooKeeper as for `.ci/run`; the series starts its own PostgreSQL cluster
//! from `/usr/lib/postgresql/*/bin`; `RECKON_BENCH_SEED` picks the first
//! seed, so a failing trial can be replayed.) Each trial starts 3
//! `reckon serve` processes on a fresh database and ZooKeeper, runs a
//! checksum job and a compensation job, injects one fault at a random moment
//! (kill -9 of a worker, of the leader, of two nodes at once; SIGSTOP past
//! the session timeout; ZooKeeper restart; ZooKeeper outage longer than the
//! session; PostgreSQL crash + restart; PostgreSQL outage), and checks the
//! invariants (tests/common/faults.rs).

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let trials: u64 = std::env::var("RECKON_BENCH_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("RECKON_BENCH_SEED")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let done = runtime.block_on(common::faults::series(trials, seed));
    let violations: usize = done.iter().map(|t| t.violations.len()).sum();
    let mut by_fault = std::collections::BTreeMap::new();
    for t in &done {
        let entry = by_fault
            .entry(format!("{:?}", t.fault))
            .or_insert((0usize, 0usize, 0usize));
        entry.0 += 1;
        if t.status == Some(reckon::ledger::RunStatus::Succeeded) {
            entry.1 += 1;
        }
        entry.2 += t.violations.len();
    }
    println!("{trials} trials from seed {seed}: {violations} violation(s)");
    println!(
        "{:<18} {:>7} {:>10} {:>11}",
        "fault", "trials", "succeeded", "violations"
    );
    for (fault, (n, ok, v)) in by_fault {
        println!("{fault:<18} {n:>7} {ok:>10} {v:>11}");
    }
    if violations > 0 {
        std::process::exit(1);
    }
}
