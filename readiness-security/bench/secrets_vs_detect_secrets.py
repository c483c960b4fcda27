#!/usr/bin/env python3
"""Compare readiness's secret scanner with Yelp's detect-secrets on the labelled corpus.

Usage (from the workspace root):

    cargo run -p readiness-security --example scan_corpus -- \
        readiness-security/tests/corpus/secrets.tsv > /tmp/ours.json
    python3 readiness-security/bench/secrets_vs_detect_secrets.py /tmp/ours.json [OURS_SECONDS]

argv[1]  our verdicts: a JSON list of {"line": <1-based corpus line>, "found": bool,
         "rules": ["rule-id", ...]} (a line missing from the list counts as not found).
         "-" skips our scanner and reports detect-secrets alone.
argv[2]  optional: seconds our scanner took over the whole corpus (the example prints it to
         stderr); without it, our lines-per-second column shows "n/a".
--corpus PATH  another corpus (default: ../tests/corpus/secrets.tsv next to this script).

The corpus is `LABEL<TAB>RULE-OR-DASH<TAB>LINE` per line, LABEL `secret` or `clean`.
detect-secrets runs with its default plugins and default filters (the settings of a plain
`detect-secrets scan`), over one file holding every corpus LINE, so its line numbers are the
corpus's. Its time is the best of three scans after a warm-up scan.
Prints Markdown: a summary table, a per-rule table, and the lines each tool missed or flagged
wrongly. Needs only the standard library and detect-secrets (installed with pip if missing).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CORPUS = os.path.join(HERE, "..", "tests", "corpus", "secrets.tsv")


def ensure_detect_secrets():
    try:
        import detect_secrets  # noqa: F401
    except ImportError:
        print("detect-secrets is missing: installing it with pip", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "detect-secrets"]
        if subprocess.call(cmd) != 0:
            subprocess.check_call(cmd + ["--user"])
        import site
        import importlib

        importlib.invalidate_caches()
        user_site = site.getusersitepackages()
        if user_site not in sys.path:
            sys.path.append(user_site)


def read_corpus(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f.read().splitlines(), 1):
            parts = raw.split("\t", 2)
            if len(parts) != 3 or parts[0] not in ("secret", "clean"):
                sys.exit(f"{path}:{n}: expected LABEL<TAB>RULE<TAB>LINE, got {raw[:80]!r}")
            cases.append({"n": n, "label": parts[0], "rule": parts[1], "line": parts[2]})
    return cases


def run_detect_secrets(cases):
    """{line number: sorted plugin names} for the lines detect-secrets flags; seconds per scan."""
    # scan_file yields every finding; SecretsCollection would merge equal secrets on two lines.
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "corpus.log")
        with open(path, "w", encoding="utf-8") as f:
            for c in cases:
                f.write(c["line"] + "\n")
        best = None
        flagged = {}
        for attempt in range(4):  # a warm-up scan, then the best of three
            with default_settings():
                start = time.perf_counter()
                found = list(scan_file(path))
                took = time.perf_counter() - start
            if attempt > 0:
                best = took if best is None else min(best, took)
            flagged = {}
            for secret in found:
                flagged.setdefault(secret.line_number, set()).add(secret.type)
    return {n: sorted(types) for n, types in flagged.items()}, best


def read_ours(path, cases):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    seconds = None
    if isinstance(data, dict):  # tolerate {"results": [...], "seconds": x}
        seconds = data.get("seconds")
        data = data.get("results", [])
    ours = {}
    for item in data:
        n = int(item["line"])
        if n < 1 or n > len(cases):
            sys.exit(f"{path}: line {n} is outside the corpus (1..{len(cases)})")
        if item.get("found"):
            ours[n] = list(item.get("rules") or [])
    return ours, seconds


def short(line, width=110):
    line = line.replace("|", "\\|")
    return line if len(line) <= width else line[: width - 1] + "…"


def pct(a, b):
    return f"{a}/{b} ({100.0 * a / b:.0f}%)" if b else f"{a}/0"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ours", help="our verdicts (JSON list), or - to skip our scanner")
    ap.add_argument("ours_seconds", nargs="?", type=float, help="seconds our scan took")
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    args = ap.parse_args()

    cases = read_corpus(args.corpus)
    secrets = [c for c in cases if c["label"] == "secret"]
    cleans = [c for c in cases if c["label"] == "clean"]

    ensure_detect_secrets()
    ds, ds_seconds = run_detect_secrets(cases)

    tools = [("detect-secrets (default plugins)", ds, ds_seconds)]
    if args.ours != "-":
        ours, seconds = read_ours(args.ours, cases)
        if args.ours_seconds is not None:
            seconds = args.ours_seconds
        tools.insert(0, ("readiness (rules/default.toml)", ours, seconds))

    print(f"Corpus: `{os.path.relpath(args.corpus)}`: {len(cases)} lines, "
          f"{len(secrets)} secret, {len(cleans)} clean.\n")
    print("| tool | secrets found (recall) | clean lines flagged (false positives) | lines per second |")
    print("| --- | --- | --- | --- |")
    for name, flagged, seconds in tools:
        tp = sum(1 for c in secrets if c["n"] in flagged)
        fp = sum(1 for c in cleans if c["n"] in flagged)
        speed = f"{len(cases) / seconds:,.0f}" if seconds else "n/a"
        print(f"| {name} | {pct(tp, len(secrets))} | {pct(fp, len(cleans))} | {speed} |")

    if args.ours != "-":
        ours = tools[0][1]
        right = sum(1 for c in secrets if c["rule"] in ours.get(c["n"], []))
        print(f"\nreadiness found {pct(right, len(secrets))} secret lines with the labelled rule id.")

    # Per rule: which kinds of secret each tool finds.
    rules = sorted({c["rule"] for c in secrets})
    print("\n| labelled rule | cases | " + " | ".join(name for name, _, _ in tools) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in tools) + " |")
    for rule in rules:
        these = [c for c in secrets if c["rule"] == rule]
        cells = [str(sum(1 for c in these if c["n"] in flagged)) for _, flagged, _ in tools]
        print(f"| {rule} | {len(these)} | " + " | ".join(cells) + " |")

    for name, flagged, _ in tools:
        missed = [c for c in secrets if c["n"] not in flagged]
        wrong = [c for c in cleans if c["n"] in flagged]
        print(f"\n### {name}: {len(missed)} secrets missed, {len(wrong)} clean lines flagged\n")
        for c in missed:
            print(f"- missed line {c['n']} ({c['rule']}): `{short(c['line'])}`")
        for c in wrong:
            print(f"- flagged line {c['n']} ({', '.join(flagged[c['n']])}): `{short(c['line'])}`")
        if name.startswith("readiness"):
            other = [c for c in secrets if c["n"] in flagged and c["rule"] not in flagged[c["n"]]]
            for c in other:
                print(f"- line {c['n']} found by {', '.join(flagged[c['n']])}, labelled {c['rule']}: "
                      f"`{short(c['line'])}`")


if __name__ == "__main__":
    main()
