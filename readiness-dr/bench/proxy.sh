#!/usr/bin/env bash
# The fault proxy's cost with no toxic: bulk throughput (2 GiB) direct, through the proxy
# and through tokio's copy_bidirectional (the best a forwarding task does on this
# machine), and the p50/p99 of 64-byte round trips direct and through the proxy; 5 rounds,
# one table. Loopback only.
#
#   readiness-dr/bench/proxy.sh
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cargo build -q --release -p readiness-dr --example proxy_throughput
exec target/release/examples/proxy_throughput
