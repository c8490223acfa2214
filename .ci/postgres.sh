#!/usr/bin/env bash
# A local PostgreSQL for the PostgreSQL job-store tests (test/queue/postgres-*.test.ts): installs
# Debian's server if it is missing, starts the cluster, creates the role and database `codexec`
# (password `codexec`, listening on 127.0.0.1 only, as Debian configures it) and prints the URL
# the tests read from CODEXEC_TEST_DATABASE_URL. Idempotent; needs root.
#
#   export CODEXEC_TEST_DATABASE_URL=$(bash .ci/postgres.sh)
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null || [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; } >&2
fi
read -r version cluster port _ < <(pg_lsclusters -h | head -n 1)
pg_ctlcluster "$version" "$cluster" start >&2 2>/dev/null || true
for _ in $(seq 1 30); do
  su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -qAt" >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'codexec') THEN
    CREATE ROLE codexec LOGIN PASSWORD 'codexec';
  END IF;
END $$;
SQL
if [ -z "$(su postgres -c "psql -qAtc \"SELECT 1 FROM pg_database WHERE datname = 'codexec'\"")" ]; then
  su postgres -c "createdb -O codexec codexec" >&2
fi
echo "postgres://codexec:codexec@127.0.0.1:${port}/codexec"
