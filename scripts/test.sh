#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the tests need
# (Debian's zookeeper for the reference server and Java CLI, kazoo and pytest),
# then the Rust tests, then the interop and differential tests against Apache ZooKeeper.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/test-deps.sh

echo "== cargo build"
cargo build --workspace --all-targets
echo "== cargo test"
cargo test --workspace --no-fail-fast
echo "== interop tests (Apache ZooKeeper vs Zooid)"
ZOOID_BIN="$PWD/target/debug/zooid" python3 -m pytest tests/interop -q -p no:cacheprovider
