#!/usr/bin/env bash
# What a user's crate compiles when it depends on one readiness crate alone: for
# readiness-load and readiness-report, the crates in its normal dependency tree, the crates
# a clean `cargo build` compiles and how long that takes; optionally side by side with an
# earlier commit (checked out in a temporary worktree). Prints a Markdown table.
#
#   readiness-core/bench/footprint.sh [--rev REV]
#
# Each build has a fresh target directory and uses the workspace's Cargo.lock, so both
# sides build the same versions. Run it on a quiet machine: the times are wall clock.
set -Eeuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rev=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --rev) rev=$2; shift 2 ;;
    *) echo "usage: $0 [--rev REV]" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d -t readiness-footprint.XXXXXX)
cleanup() {
  [[ -n $rev ]] && git -C "$root" worktree remove --force "$work/before" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
sides=("now:$root")
if [[ -n $rev ]]; then
  git -C "$root" worktree add -q --detach "$work/before" "$rev"
  sides=("$rev:$work/before" "${sides[@]}")
fi
echo "| crate | side | crates in the normal dependency tree | crates compiled (clean build) | clean build | tokio / testcontainers / reqwest / clap |"
echo "|---|---|---:|---:|---:|---|"
for crate in readiness-load readiness-report; do
  for side in "${sides[@]}"; do
    name=${side%%:*} tree=${side#*:}
    user=$work/user-$crate-${name//[^a-zA-Z0-9]/_}
    mkdir -p "$user/src"
    : >"$user/src/lib.rs"
    cat >"$user/Cargo.toml" <<TOML
[package]
name = "footprint-user"
version = "0.1.0"
edition = "2024"
[workspace]
[dependencies]
$crate = { path = "$tree/$crate" }
TOML
    cp "$tree/Cargo.lock" "$user/"
    deps=$(cd "$user" && cargo tree -e normal --prefix none 2>/dev/null | sed 's/ (\*)//;s/ (proc-macro)//' | sort -u)
    heavy=$(echo "$deps" | { grep -oE '^(tokio|testcontainers|reqwest|clap) ' || true; } | sort -u | tr -d ' ' | paste -sd, -)
    start=$(date +%s.%N)
    compiled=$(cd "$user" && CARGO_TARGET_DIR="$user/target" cargo build 2>&1 | grep -c '^\s*Compiling')
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    printf '| %s | %s | %d | %d | %.1f s | %s |\n' "$crate" "$name" "$(echo "$deps" | wc -l)" \
      "$compiled" "$seconds" "${heavy:-none}"
  done
done
