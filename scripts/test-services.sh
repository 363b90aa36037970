#!/usr/bin/env bash
# npm run test:services [-- vitest args]: the whole Vitest suite against real PostgreSQL and Redis.
# TEST_DATABASE_URL must point at a server where the user may create and drop databases: the run
# migrates a template database once and gives every test app its own copy. TEST_REDIS_URL gets a
# fresh key prefix per test app. Values already set in the environment are respected.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"

# Shown in messages without any password.
redact() { sed -E 's#://([^:/@]+):[^@]*@#://\1:***@#' <<<"$1"; }

fail() {
  printf 'test:services: %s\n' "$1" >&2
  exit 1
}

check_postgres() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -t 3 -d "$TEST_DATABASE_URL"
  else
    node -e '
      const pg = require("pg");
      const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
      client.connect().then(() => client.query("select 1")).then(() => client.end())
        .then(() => process.exit(0), (error) => { console.error(error.message); process.exit(1); });'
  fi
}

check_redis() {
  if command -v redis-cli >/dev/null 2>&1; then
    local reply
    if command -v timeout >/dev/null 2>&1; then
      reply="$(timeout 5 redis-cli -u "$TEST_REDIS_URL" ping 2>/dev/null || true)"
    else
      reply="$(redis-cli -u "$TEST_REDIS_URL" ping 2>/dev/null || true)"
    fi
    [[ "$reply" == *PONG* ]]
  else
    node -e '
      const { Redis } = require("ioredis");
      const redis = new Redis(process.env.TEST_REDIS_URL, {
        lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
      redis.on("error", () => {});
      redis.connect().then(() => redis.ping()).then(() => redis.quit())
        .then(() => process.exit(0), (error) => { console.error(error.message); process.exit(1); });'
  fi
}

check_postgres ||
  fail "PostgreSQL does not answer at $(redact "$TEST_DATABASE_URL"). Start it, or set TEST_DATABASE_URL."
check_redis || fail "Redis does not answer at $(redact "$TEST_REDIS_URL"). Start it, or set TEST_REDIS_URL."

printf 'test:services: PostgreSQL %s, Redis %s\n' "$(redact "$TEST_DATABASE_URL")" "$(redact "$TEST_REDIS_URL")"
exec npx vitest run "$@"
