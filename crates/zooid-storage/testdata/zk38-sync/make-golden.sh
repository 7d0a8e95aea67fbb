#!/usr/bin/env bash
# Regenerates sync-snapshot.bin and sync-snapshot.txt with Apache ZooKeeper 3.8's own
# classes (Debian's `zookeeper` package): the snapshot stream a leader sends after SNAP,
# and a listing of the tree and sessions it was made from. Run by hand, not by
# `cargo test`; the tests read the committed output. Needs java/javac 17 and
# /usr/share/java/zookeeper.jar. The program is deterministic (fixed zxids and times), so
# a rerun gives the same bytes unless ZooKeeper's serialization or hash order changed.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CP="/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
javac -d "$WORK" -cp "$CP" "$HERE/SyncSnapshotGolden.java"
java -cp "$CP:$WORK" SyncSnapshotGolden "$HERE/sync-snapshot.bin" "$HERE/sync-snapshot.txt"
echo "wrote $HERE/sync-snapshot.bin ($(wc -c < "$HERE/sync-snapshot.bin") bytes) and sync-snapshot.txt"
