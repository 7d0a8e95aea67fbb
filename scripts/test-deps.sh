#!/bin/sh
# Install what the interop tests (tests/interop) need on a fresh Debian machine, as root:
# Apache ZooKeeper 3.8 from Debian's `zookeeper` package (plus a Java runtime, which it
# depends on) and kazoo + pytest (+ pytest-timeout, + pure-sasl for kazoo's SASL) from PyPI.
# Idempotent, quiet and fast when everything is already there.
set -eu

need_apt=""
dpkg -s zookeeper >/dev/null 2>&1 || need_apt="zookeeper"
command -v java >/dev/null 2>&1 || need_apt="$need_apt default-jre-headless"
command -v openssl >/dev/null 2>&1 || need_apt="$need_apt openssl"  # test_tls.py's certificates

if [ -n "$need_apt" ]; then
    echo "test-deps: installing $need_apt (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import kazoo, pytest, pytest_timeout, puresasl' >/dev/null 2>&1; then
    echo "test-deps: installing kazoo pytest pytest-timeout pure-sasl (pip)"
    "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
        kazoo pytest pytest-timeout pure-sasl 2>/dev/null \
    || "$PY" -m pip install -q --disable-pip-version-check --break-system-packages \
        kazoo pytest pytest-timeout pure-sasl
fi
