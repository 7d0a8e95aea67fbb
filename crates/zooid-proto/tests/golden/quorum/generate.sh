#!/bin/sh
# Regenerates the golden hex files in this directory from Apache ZooKeeper's own classes
# (Debian's zookeeper 3.8 jars). The Rust tests only read the checked-in output.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
jars=${ZK_JARS:-/usr/share/java}
cp="$jars/zookeeper.jar:$jars/zookeeper-jute.jar:$jars/slf4j-api.jar"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
javac -d "$build" -cp "$cp" "$here/src/org/apache/zookeeper/server/quorum/GoldenQuorum.java"
# Multi-address election addresses are off by default; the vectors use them explicitly.
java -Dzookeeper.multiAddress.enabled=true -cp "$build:$cp" \
  org.apache.zookeeper.server.quorum.GoldenQuorum "$here/vectors"
