//! The simulation over many seeds: every property of `zooid_sim::check` on every run.

#[test]
fn a_thousand_seeds_keep_every_property() {
    let mut failures = Vec::new();
    for seed in 0..1000 {
        let cfg = zooid_sim::SimConfig::for_seed(seed);
        if let Err(f) = zooid_sim::run(seed, &cfg) {
            failures.push(f.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 1000 seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
