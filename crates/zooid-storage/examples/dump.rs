//! Prints a log file or a snapshot: `cargo run -p zooid-storage --example dump -- FILE [--json]`.
//! (The `zooid` command wires the same functions as `zooid log dump` / `snapshot dump`.)

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: dump FILE [--json]");
        return ExitCode::from(2);
    };
    let json = args.iter().any(|a| a == "--json");
    let path = Path::new(file);
    let is_log = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("log."));
    let mut out = std::io::stdout().lock();
    let r = match (is_log, json) {
        (true, false) => zooid_storage::dump::log_text(path, &mut out),
        (true, true) => zooid_storage::dump::log_json(path, &mut out),
        (false, false) => zooid_storage::dump::snapshot_text(path, &mut out),
        (false, true) => zooid_storage::dump::snapshot_json(path, &mut out),
    };
    let _ = out.flush();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
