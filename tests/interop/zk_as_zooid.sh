#!/bin/sh
# Self-check of the interop harness: behave like `zooid server <zoo.cfg>` but run Apache
# ZooKeeper. `ZOOID_BIN=tests/interop/zk_as_zooid.sh python3 -m pytest tests/interop`
# then compares ZooKeeper with itself, which must pass: any failure is a
# non-deterministic test, not a Zooid bug.
set -e
if [ "$1" != "server" ] || [ -z "$2" ]; then
    echo "usage: $0 server <zoo.cfg>" >&2
    exit 2
fi
CP=/usr/share/java/zookeeper.jar
for j in zookeeper-jute slf4j-api slf4j-simple; do
    [ -e "/usr/share/java/$j.jar" ] && CP="$CP:/usr/share/java/$j.jar"
done
exec java -Xms64m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Djava.net.preferIPv4Stack=true -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -cp "$CP" org.apache.zookeeper.server.ZooKeeperServerMain "$2"
