//! `reckon bench faults --trials N`: the randomized fault series of issue 13
//! (3 `reckon serve` nodes, kill -9 / SIGSTOP / ZooKeeper and PostgreSQL
//! restarts and outages, the invariant checker after every trial).
//!
//! A launcher, not the harness: the series lives in test code
//! (`tests/common/faults.rs`, shared by `tests/faults.rs` and
//! `benches/faults.rs`) because it starts and kills its own PostgreSQL
//! cluster, ZooKeeper server, HTTP downstream and `reckon` processes — none
//! of which belongs in the product binary. This command runs that harness
//! from a source checkout (`cargo bench --bench faults`, or with `--debug`
//! the test build) with the trial count and first seed passed through, and
//! says what it needs when it cannot.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

use super::{EXIT_OK, Failure};

#[derive(Debug, Args)]
pub(super) struct FaultsArgs {
    /// Trials in the series (each on a fresh database and ZooKeeper)
    #[arg(long, default_value_t = 10)]
    trials: u64,
    /// Seed of the first trial (trial k uses seed + k; replays a failing trial)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The reckon source checkout holding benches/faults.rs (default: the
    /// one this binary was built from, else the working directory)
    #[arg(long, value_name = "DIR")]
    source: Option<PathBuf>,
    /// Run the debug test build (`cargo test --test faults random`) instead
    /// of the optimized bench build
    #[arg(long)]
    debug: bool,
    /// Print the command instead of running it
    #[arg(long)]
    print: bool,
}

/// What would be run: in `dir`, `cargo` with `args` and `env`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Launch {
    dir: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Launch {
    fn shell(&self) -> String {
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "cd {} && {} cargo {}",
            self.dir.display(),
            env.join(" "),
            self.args.join(" ")
        )
    }
}

/// The source checkout to run the harness from.
fn source_dir(given: Option<&Path>) -> PathBuf {
    if let Some(dir) = given {
        return dir.to_path_buf();
    }
    let built_from = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if built_from.join("benches/faults.rs").is_file() {
        built_from
    } else {
        PathBuf::from(".")
    }
}

fn launch(args: &FaultsArgs, zk_classpath: Option<&str>) -> Result<Launch, String> {
    let dir = source_dir(args.source.as_deref());
    if !dir.join("benches/faults.rs").is_file() || !dir.join("tests/common/faults.rs").is_file() {
        return Err(format!(
            "{} is not a reckon source checkout (no benches/faults.rs): the fault harness is \
             test code that starts its own PostgreSQL cluster, ZooKeeper and reckon nodes, and \
             runs from the sources; pass --source DIR",
            dir.display()
        ));
    }
    if zk_classpath.is_none_or(str::is_empty) {
        return Err("RECKON_TEST_ZK_CLASSPATH is not set: the harness starts a real ZooKeeper \
             server from that Java classpath (e.g. /etc/zookeeper/conf:/usr/share/java/zookeeper.jar); \
             PostgreSQL comes from /usr/lib/postgresql/*/bin or RECKON_TEST_PG_BIN"
            .to_string());
    }
    if args.trials == 0 {
        return Err("--trials must be at least 1".to_string());
    }
    let (trials, seed) = (args.trials.to_string(), args.seed.to_string());
    let (cargo_args, env): (Vec<&str>, Vec<(&str, String)>) = if args.debug {
        (
            vec![
                "test",
                "--test",
                "faults",
                "random_faults",
                "--",
                "--nocapture",
            ],
            vec![("RECKON_FAULT_TRIALS", trials), ("RECKON_FAULT_SEED", seed)],
        )
    } else {
        (
            vec!["bench", "--bench", "faults"],
            vec![("RECKON_BENCH_TRIALS", trials), ("RECKON_BENCH_SEED", seed)],
        )
    };
    Ok(Launch {
        dir,
        args: cargo_args.into_iter().map(String::from).collect(),
        env: env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    })
}

/// Runs (or prints) the fault series; exit 0 only when it reported no violation.
pub(super) fn bench_faults(args: FaultsArgs) -> Result<u8, Failure> {
    let zk = std::env::var("RECKON_TEST_ZK_CLASSPATH").ok();
    let launch = launch(&args, zk.as_deref()).map_err(Failure::usage)?;
    if args.print {
        println!("{}", launch.shell());
        return Ok(EXIT_OK);
    }
    eprintln!("reckon bench faults: {}", launch.shell());
    let status = Command::new("cargo")
        .args(&launch.args)
        .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&launch.dir)
        .status()
        .map_err(|e| Failure::run(format!("starting cargo in {}: {e}", launch.dir.display())))?;
    if status.success() {
        Ok(EXIT_OK)
    } else {
        Err(Failure::run(format!(
            "the fault series failed ({status}): an invariant was violated or a trial could not run; \
             its output above names the trial and seed"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(debug: bool, source: Option<PathBuf>) -> FaultsArgs {
        FaultsArgs {
            trials: 100,
            seed: 7,
            source,
            debug,
            print: true,
        }
    }

    #[test]
    fn launches_the_bench_with_trials_and_seed() {
        let launch = launch(&args(false, None), Some("/zk.jar")).expect("a launch");
        assert_eq!(launch.dir, PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        assert_eq!(launch.args, ["bench", "--bench", "faults"]);
        assert_eq!(
            launch.env,
            [
                ("RECKON_BENCH_TRIALS".to_string(), "100".to_string()),
                ("RECKON_BENCH_SEED".to_string(), "7".to_string())
            ]
        );
        let debug = super::launch(&args(true, None), Some("/zk.jar")).expect("a launch");
        assert_eq!(
            debug.args[..4],
            ["test", "--test", "faults", "random_faults"]
        );
        assert_eq!(debug.env[0].0, "RECKON_FAULT_TRIALS");
    }

    #[test]
    fn explains_what_it_needs() {
        let elsewhere = launch(&args(false, Some(PathBuf::from("/nonexistent"))), Some("x"))
            .expect_err("no checkout");
        assert!(
            elsewhere.contains("not a reckon source checkout"),
            "{elsewhere}"
        );
        let no_zk = launch(&args(false, None), None).expect_err("no ZooKeeper");
        assert!(no_zk.contains("RECKON_TEST_ZK_CLASSPATH"), "{no_zk}");
    }
}
