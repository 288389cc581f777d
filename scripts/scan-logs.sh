#!/usr/bin/env bash
# Fails if a log file holds anything shaped like a credential: Plue tokens, session secrets and
# invite links, an Anthropic key, a Bearer/Basic credential, a URL with a password, an unredacted
# Authorization/Cookie header or a
# `?token=`-like query value. Use on a test run's logs:
#   PLUE_TEST_LOG_FILE=/tmp/plue-test.log npx jest … && scripts/scan-logs.sh /tmp/plue-test.log
set -euo pipefail
file="${1:?usage: scripts/scan-logs.sh <log file>}"
[ -s "$file" ] || { echo "scan-logs: $file is missing or empty: nothing was logged, nothing proven" >&2; exit 1; }
patterns=(
  'plue_[A-Za-z0-9_-]{20,}'
  'pl(ses|inv)_[A-Za-z0-9_-]{20,}'
  'sk-ant-[A-Za-z0-9_-]{16,}'
  '(Bearer|Basic|Token) [A-Za-z0-9._~+/=-]{8,}'
  '[a-z][a-z0-9+.-]*://[^/[:space:]:@"]*:[^@[:space:]"[]+@'
  '"(authorization|proxy-authorization|cookie|set-cookie)":"[^["]'
  '[?&](token|access_token|secret|password|api_key)=[^[&"[:space:]]'
)
found=0
for p in "${patterns[@]}"; do
  if grep -E -n -m 3 -- "$p" "$file" | cut -c1-300; then
    echo "scan-logs: credential-shaped text in $file (pattern: $p)" >&2
    found=1
  fi
done
lines=$(wc -l <"$file")
[ "$found" = 0 ] && echo "scan-logs: $lines log lines, no credential found"
exit "$found"
