//! Damaged files of every shape: the readers return errors or shorter data, never panic,
//! and never read past what the file holds. Deterministic: the seed is printed.

use std::fs;
use std::path::Path;

use zooid_storage::log::LogFile;
use zooid_storage::{read_from, read_snapshot};

/// xorshift64*: a small deterministic generator (no seed is ever chosen silently).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn golden(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name),
    )
    .unwrap()
}

/// Flips, zeroes, truncates or splices random spans of `orig`.
fn mutate(rng: &mut Rng, orig: &[u8]) -> Vec<u8> {
    let mut b = orig.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len().max(1));
        match rng.below(5) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => {
                let end = (at + rng.below(64)).min(b.len());
                b[at..end].fill(0);
            }
            2 => b.truncate(at),
            3 => {
                let end = (at + rng.below(16)).min(b.len());
                for x in &mut b[at..end] {
                    *x = rng.next() as u8;
                }
            }
            _ => {
                // A huge length where one was.
                let end = (at + 4).min(b.len());
                b[at..end].fill(0x7f);
            }
        }
        if b.is_empty() {
            break;
        }
    }
    b
}

#[test]
fn damaged_logs_never_panic() {
    let seed = 0x5eed_0001;
    println!("seed {seed:#x}");
    let mut rng = Rng(seed);
    let d = tempfile::tempdir().unwrap();
    let orig = [golden("zk38/log.10"), golden("zk38/log.8")];
    let (mut ok, mut torn, mut errors) = (0, 0, 0);
    for i in 0..600 {
        let b = mutate(&mut rng, &orig[i % 2]);
        fs::write(d.path().join("log.10"), &b).unwrap();
        let mut r = read_from(d.path(), 0).unwrap();
        let failed = r.by_ref().any(|e| e.is_err());
        match (failed, r.tail()) {
            (true, _) => errors += 1,
            (false, Some(_)) => torn += 1,
            (false, None) => ok += 1,
        }
        // The single-file reader agrees and stops.
        if let Ok(mut lf) = LogFile::open(&d.path().join("log.10")) {
            while let Ok(Some(_)) = lf.next_record() {}
        }
    }
    println!("ok {ok}, torn {torn}, errors {errors}");
    assert!(torn > 0 && errors > 0);
}

#[test]
fn damaged_snapshots_never_panic() {
    let seed = 0x5eed_0002;
    println!("seed {seed:#x}");
    let mut rng = Rng(seed);
    let d = tempfile::tempdir().unwrap();
    let cases = [
        ("snapshot.1a", golden("zk38/snapshot.1a")),
        ("snapshot.9.gz", golden("zk38-gz/snapshot.9.gz")),
        ("snapshot.a.snappy", golden("zk38-snappy/snapshot.a.snappy")),
    ];
    let mut errors = 0;
    for i in 0..900 {
        let (name, orig) = &cases[i % 3];
        let p = d.path().join(name);
        fs::write(&p, mutate(&mut rng, orig)).unwrap();
        errors += usize::from(read_snapshot(&p).is_err());
    }
    println!("errors {errors} of 900");
    assert!(errors > 800);
}

#[test]
fn random_bytes_are_never_a_log_or_a_snapshot() {
    let mut rng = Rng(0x5eed_0003);
    let d = tempfile::tempdir().unwrap();
    for _ in 0..200 {
        let n = rng.below(400);
        let mut b: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        if n >= 4 && rng.below(2) == 0 {
            b[..4].copy_from_slice(b"ZKLG");
        }
        fs::write(d.path().join("log.1"), &b).unwrap();
        let entries = read_from(d.path(), 0)
            .unwrap()
            .filter(|e| e.is_ok())
            .count();
        assert_eq!(entries, 0);
        if n >= 4 {
            b[..4].copy_from_slice(b"ZKSN");
        }
        fs::write(d.path().join("snapshot.1"), &b).unwrap();
        assert!(read_snapshot(&d.path().join("snapshot.1")).is_err());
    }
}
