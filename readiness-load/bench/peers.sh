#!/usr/bin/env bash
# readiness-load side by side with wrk and oha against nginx on loopback, in one run.
# nginx is pinned to core 0, every generator to core 1 (taskset); 50 connections, 10 s,
# median of 3 runs per tool. Prints a Markdown table: req/s, generator CPU, user+sys µs per
# request, peak RSS. Installs what it needs (wrk, nginx from Debian; oha from crates.io).
#
# A second table checks fixed arrival rates (achieved rate, scheduling lag p99, with and
# without --fine-timer) and a third the generator's memory at 10,000 virtual users;
# --soak also samples the generator's RSS every 10 s over a 5-minute run.
#
#   readiness-load/bench/peers.sh [--duration 10] [--runs 3] [--connections 50] [--soak]
#                                 [--rates-only] [--soak-only]
set -Eeuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
duration=10 runs=3 connections=50 soak=0 soak_only=0 rates_only=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --soak) soak=1; shift ;;
    --soak-only) soak=1 soak_only=1; shift ;;
    --rates-only) rates_only=1; shift ;;
    *) echo "usage: $0 [--duration S] [--runs N] [--connections C]" >&2; exit 2 ;;
  esac
done

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_apt+=(nginx-light)
[[ -x /usr/bin/time ]] || need_apt+=(time)
command -v bc >/dev/null || need_apt+=(bc)
if [[ ${#need_apt[@]} -gt 0 ]]; then
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need_apt[@]}" >/dev/null
fi
[[ $rates_only == 1 || $soak_only == 1 ]] || command -v oha >/dev/null || cargo install --locked oha >/dev/null
(cd "$root" && cargo build -q --release -p readiness-load --example http_load)
http_load=$root/${CARGO_TARGET_DIR:-target}/release/examples/http_load

work=$(mktemp -d -t readiness-peers.XXXXXX)
port=18080
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log;
worker_rlimit_nofile 20000;
events { worker_connections 15000; }
http {
  access_log off;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$port;
    location / { return 200 "ok"; }
  }
}
CONF
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
taskset -c 0 /usr/sbin/nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
trap 'kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done
url=http://127.0.0.1:$port/

# run TOOL -> prints "rps user_s sys_s maxrss_kb requests"
run() {
  local tool=$1 out="$work/out" t="$work/time"
  case $tool in
    wrk) /usr/bin/time -f '%U %S %M' -o "$t" taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" "$url" >"$out"
         rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
         reqs=$(awk '/requests in/ {print $1}' "$out") ;;
    oha) /usr/bin/time -f '%U %S %M' -o "$t" taskset -c 1 oha --no-tui -c "$connections" -z "${duration}s" --output-format json "$url" >"$out"
         rps=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["summary"]["requestsPerSec"])' "$out")
         reqs=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(d["statusCodeDistribution"].values()))' "$out") ;;
    readiness-raw|readiness-reqwest)
         /usr/bin/time -f '%U %S %M' -o "$t" taskset -c 1 "$http_load" --url "$url" --connections "$connections" \
           --duration "${duration}s" --engine "${tool#readiness-}" --json >"$out"
         rps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rps"])' "$out")
         reqs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$out") ;;
  esac
  read -r user sys rss <"$t"
  echo "$rps $user $sys $rss $reqs"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [[ $rates_only == 0 && $soak_only == 0 ]]; then
echo "| tool | req/s (median of $runs) | generator CPU | user+sys µs/request | peak RSS |"
echo "|---|---|---|---|---|"
for tool in wrk oha readiness-raw readiness-reqwest; do
  : >"$work/rows"
  for _ in $(seq 1 "$runs"); do run "$tool" >>"$work/rows"; done
  rps=$(awk '{print $1}' "$work/rows" | median)
  cpu=$(awk -v d="$duration" '{print ($2+$3)/d*100}' "$work/rows" | median)
  us=$(awk '{ if ($5>0) print ($2+$3)*1e6/$5 }' "$work/rows" | median)
  rss=$(awk '{print $4/1024}' "$work/rows" | sort -g | tail -1)
  printf '| %s | %.0f | %.0f%% | %.2f | %.1f MB |\n' "$tool" "$rps" "$cpu" "$us" "$rss"
done
fi

if [[ $soak_only == 0 ]]; then
echo
echo "| fixed rate (readiness-raw, $connections connections, ${duration}s, median of $runs) | achieved / target | failed (not started) | scheduling lag p99 | generator CPU |"
echo "|---|---|---|---|---|"
for rate in 2000 20000; do
  for fine in "" --fine-timer; do
    : >"$work/rows"
    for _ in $(seq 1 "$runs"); do
      /usr/bin/time -f '%U %S %M' -o "$work/time" taskset -c 1 "$http_load" --url "$url" --connections "$connections" \
        --duration "${duration}s" --rate "$rate" $fine --json >"$work/out"
      read -r user sys _ <"$work/time"
      python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"], d["lag_p99_ms"], sys.argv[2], sys.argv[3], d["errors"], d["not_started"])' \
        "$work/out" "$user" "$sys" >>"$work/rows"
    done
    python3 - "$work/rows" "$rate" "$duration" "${fine:-tokio timer}" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
rate = float(sys.argv[2]); dur = float(sys.argv[3]); want = int(rate * dur)
reqs = statistics.median(r[0] for r in rows)
lag = statistics.median(r[1] for r in rows)
cpu = statistics.median((r[2] + r[3]) / dur * 100 for r in rows)
lags = ", ".join(f"{r[1]:.3f}" for r in rows)
errors = statistics.median(r[4] for r in rows)
not_started = statistics.median(r[5] for r in rows)
print(f"| {int(rate)}/s, {sys.argv[4]} | {reqs / want * 100:.3f}% ({int(reqs)} of {want}) | {int(errors)} ({int(not_started)}) | {lag:.3f} ms ({lags}) | {cpu:.0f}% |")
PY
  done
done

fi
[[ $rates_only == 1 ]] && exit 0
if [[ $soak_only == 0 ]]; then
echo
echo "| virtual users (readiness-raw, closed model, ${duration}s) | req/s | peak RSS |"
echo "|---|---|---|"
for users in 50 1000 10000; do
  /usr/bin/time -f '%U %S %M' -o "$work/time" taskset -c 1 "$http_load" --url "$url" --connections "$users" \
    --duration "${duration}s" --json >"$work/out"
  read -r _ _ rss <"$work/time"
  rps=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["rps"]))' "$work/out")
  printf '| %s | %s | %.1f MB |\n' "$users" "$rps" "$(echo "$rss / 1024" | bc -l)"
done
fi

if [[ $soak == 1 ]]; then
  echo
  echo "| 5-minute run, readiness-raw, $connections connections: RSS every 30 s (MB) | peak RSS | req/s |"
  echo "|---|---|---|"
  /usr/bin/time -f '%U %S %M' -o "$work/time" taskset -c 1 "$http_load" --url "$url" --connections "$connections" \
    --duration 300s --json >"$work/out" &
  timed=$!
  gen=
  for _ in $(seq 1 50); do
    gen=$(pgrep -P "$timed" || true)  # the child of /usr/bin/time: taskset exec'd into http_load
    [[ -n $gen ]] && break
    sleep 0.1
  done
  samples=()
  for _ in $(seq 1 9); do
    sleep 30
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$gen/status" 2>/dev/null || echo 0)
    samples+=("$(printf '%.1f' "$(echo "$kb / 1024" | bc -l)")")
  done
  wait "$timed" || true
  read -r _ _ rss <"$work/time"
  rps=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["rps"]))' "$work/out")
  printf '| %s | %.1f MB | %s |\n' "${samples[*]}" "$(echo "$rss / 1024" | bc -l)" "$rps"
fi
