#!/usr/bin/env bash
# The fault proxy's cost with no toxic, side by side with its peers in one run: bulk
# throughput (1 GiB) direct and through the proxy, tokio's copy_bidirectional, haproxy in
# TCP mode and socat (Debian packages; installed here when apt can), each round's path
# paired with direct runs right before and after it (median ratio and its spread over
# ROUNDS rounds, 7 by default); bulk data behind a 100 ms latency toxic; the p50/p99 of
# 64-byte round trips direct and through the proxy. Loopback only.
#
#   readiness-dr/bench/proxy.sh [ROUNDS]
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
command -v haproxy >/dev/null && command -v socat >/dev/null || apt-get -o DPkg::Lock::Timeout=300 install -y -q haproxy socat >/dev/null 2>&1 || echo "haproxy/socat not installed: the table has no peers" >&2
cargo build -q --release -p readiness-dr --example proxy_throughput
exec target/release/examples/proxy_throughput "$@"
