#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust and Docker, when it is missing:
#   - headless Chromium (Debian's `chromium`): the HTML report test opens the report in it;
#   - Python's junitparser: the JUnit test reads the report with a real JUnit consumer;
#   - OpenSSL's `openssl`: the TLS criteria probe with it and the tests make certificates.
# Called by images/with-local-images before a test command. Without root (or without
# network) it says what to install and leaves it to the tests to fail with the same words.
set -Eeuo pipefail
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [[ ${#need_apt[@]} -gt 0 ]]; then
  echo "images/test-tools.sh: installing ${need_apt[*]}" >&2
  if [[ $(id -u) == 0 ]]; then
    { apt-get update -qq -o DPkg::Lock::Timeout=300 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need_apt[@]}" >/dev/null; } ||
      echo "images/test-tools.sh: could not install ${need_apt[*]}; install them with apt" >&2
  else
    echo "images/test-tools.sh: not root; install ${need_apt[*]} with apt (sudo apt-get install ${need_apt[*]})" >&2
  fi
fi
if ! python3 -c 'import junitparser' >/dev/null 2>&1; then
  echo "images/test-tools.sh: installing junitparser (PyPI)" >&2
  python3 -m pip install -q junitparser >/dev/null 2>&1 ||
    python3 -m pip install -q --break-system-packages junitparser >/dev/null 2>&1 ||
    echo "images/test-tools.sh: could not install junitparser; run: python3 -m pip install junitparser" >&2
fi
