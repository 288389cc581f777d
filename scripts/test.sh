#!/usr/bin/env bash
# The whole test run, from a fresh clone on a fresh Debian machine with Node 20: installs what the
# tests need (Debian packages when missing, then the npm packages), starts a throwaway PostgreSQL, runs
# typecheck + lint + the layer rules + every test on the embedded database, runs the database suites again on
# Postgres, scans every test server's log for credentials, and ends with one line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v git >/dev/null || need+=(git)
command -v bwrap >/dev/null || need+=(bubblewrap)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing Debian packages: ${need[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then
  # `npm install` installs exactly the locked versions (the lock is not rewritten). Not `npm ci`:
  # npm 11 rejects a lock that omits optional platform binaries the registry does not serve
  # (npm/cli#9846), which this lock does for Biome's non-Linux builds.
  npm install --no-audit --no-fund
fi

PLUE_TEST_POSTGRES_URL="$(scripts/postgres.sh)"
export PLUE_TEST_POSTGRES_URL
unset DATABASE_URL

results="$(mktemp -d)"
status=0
checks_failed=0
npm run --silent typecheck || { status=1; checks_failed=$((checks_failed + 1)); }
npm run --silent lint || { status=1; checks_failed=$((checks_failed + 1)); }
npm run --silent depcruise || { status=1; checks_failed=$((checks_failed + 1)); }

export NODE_OPTIONS=--experimental-vm-modules
# Every test server logs at trace into one file, and the file is scanned for credentials at the end.
export PLUE_TEST_LOG_FILE="$results/test.log"
npx jest --json --outputFile="$results/pglite.json" || status=1
# The database-facing suites again, this time on PostgreSQL.
DATABASE_URL="$PLUE_TEST_POSTGRES_URL" npx jest --json --outputFile="$results/postgres.json" \
  test/db test/http test/streaming || status=1

scripts/scan-logs.sh "$PLUE_TEST_LOG_FILE" || { status=1; checks_failed=$((checks_failed + 1)); }

CHECKS_FAILED=$checks_failed node -e '
  const fs = require("fs");
  let passed = 0, failed = Number(process.env.CHECKS_FAILED || 0);
  for (const f of process.argv.slice(1)) {
    if (!fs.existsSync(f)) { failed++; continue; }
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests;
    failed += r.numFailedTests + (r.numRuntimeErrorTestSuites || 0);
  }
  console.log(`${passed} passed, ${failed} failed`);
' "$results/pglite.json" "$results/postgres.json"
exit $status
