#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster: `tests/with_postgres.sh pytest ...`.
# PostgreSQL refuses to run as root, so as root the cluster belongs to the postgres user.
set -euo pipefail

bin_dir=""
for candidate in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" /usr/lib/postgresql/*/bin; do
  if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then bin_dir=$candidate; break; fi
done
if [ -z "$bin_dir" ]; then
  echo "with_postgres: no initdb/pg_ctl found (install postgresql)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/baton-pg.XXXXXX)
chmod 755 "$work"
as_owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work"
  as_owner=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

"${as_owner[@]}" "$bin_dir/initdb" -D "$work/data" -A trust -U baton -E UTF8 >"$work/initdb.log"
"${as_owner[@]}" "$bin_dir/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >/dev/null

stop() {
  "${as_owner[@]}" "$bin_dir/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap stop EXIT

export DATABASE_URL="postgres://baton@127.0.0.1:$port/postgres"
echo "with_postgres: PostgreSQL $("$bin_dir/postgres" --version | awk '{print $3}') on port $port"
"$@"
