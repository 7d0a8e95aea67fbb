//! `zooid-sim`: runs seeds of the ensemble simulation.
//!
//! `zooid-sim --seed N [--trace]` replays one seed (the reproducer a failure prints);
//! `zooid-sim --seeds COUNT [--from FIRST]` runs many (a soak).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| -> Option<u64> {
        let i = args.iter().position(|a| a == name)?;
        args.get(i + 1)?.parse().ok()
    };
    let (first, count) = match (value("--seed"), value("--seeds")) {
        (Some(s), _) => (s, 1),
        (None, Some(n)) => (value("--from").unwrap_or(0), n),
        (None, None) => {
            eprintln!("usage: zooid-sim --seed N | --seeds COUNT [--from FIRST]");
            return ExitCode::from(2);
        }
    };
    let mut failures = 0u64;
    let mut recovery_max = 0;
    for seed in first..first + count {
        let mut cfg = zooid_sim::SimConfig::for_seed(seed);
        cfg.trace = count == 1 && args.iter().any(|a| a == "--trace");
        match zooid_sim::run(seed, &cfg) {
            Ok(r) => {
                recovery_max = recovery_max.max(r.recovery_ms);
                if count == 1 {
                    println!("{r:?}");
                }
            }
            Err(f) => {
                failures += 1;
                println!("{f}");
            }
        }
    }
    println!(
        "{count} seeds from {first}: {failures} failed; slowest recovery after healing {recovery_max} ms"
    );
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
