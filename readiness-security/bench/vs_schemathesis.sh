#!/usr/bin/env bash
# Our malformed-input and auth checks side by side with Schemathesis, on the reference
# service healthy and with each defect they are for (panic_on_crafted_body, no_auth,
# unchecked_text): what each found, the HTTP requests it sent (counted by a proxy in front
# of the service) and its seconds. Prints a Markdown table.
#
#   readiness-security/bench/vs_schemathesis.sh [SEED...]     (default seeds: 1 2 3)
#
# Installs Schemathesis (pinned) into target/bench-venv; needs Docker and the local images
# (built when missing, through images/with-local-images).
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
version=4.32.5
venv=target/bench-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi
images/with-local-images cargo run -q -p readiness-examples --bin security-vs-schemathesis -- \
  "$PWD/$venv/bin/schemathesis" "$@"
