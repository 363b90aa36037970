# Care Platform API image: docker build -t care-platform .
#
# Stages on the same Node 20 Debian base: `build` compiles TypeScript with every dependency,
# `deps` installs the production dependencies only, `pg-client` provides pg_dump/pg_restore, and
# the runtime stage takes dist/, those node_modules, the SQL migrations, package.json and the two
# PostgreSQL tools, nothing else (no compiler, no dev packages, no sources, no .env:
# .dockerignore lets only the build inputs in).
#
# Run: docker run -e JWT_SECRET=… -e DATABASE_URL=… -p 3000:3000 care-platform
# Migrations as their own step: docker run … care-platform node dist/migrate.js
# Backups (PostgreSQL, pg_dump custom format): docker run … care-platform node dist/backup.js

# NODE_IMAGE lets a mirror or a pinned digest replace the Docker Hub image.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs scripts/build.mjs
COPY drizzle drizzle
COPY src src
# Type-checks and bundles src/ into dist/ with source maps, copies the dashboard assets, writes
# the SBOM of the production dependencies (dist/sbom.cdx.json: the image carries the list of what
# it ships) and the migrated PGlite template a first embedded-database start copies. An image that
# only ever runs on PostgreSQL can skip the template: --build-arg BUILD_PGLITE_TEMPLATE=false.
ARG BUILD_PGLITE_TEMPLATE=true
# The template's data files are PostgreSQL's 0600: readable by all, the node user copies them.
RUN npm run build && chmod -R a+rX dist

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No production dependency has an install script (checked against package-lock.json), so none runs.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# pg_dump and pg_restore for node dist/backup.js and dist/restore.js. Debian's /usr/bin/pg_dump
# is a Perl wrapper: the runtime takes the two binaries and their library (libpq5), not Perl.
# They must be at least the server's major version: for a newer server, install that version's
# client here (PGDG's apt repository) and change the path.
FROM ${NODE_IMAGE} AS pg-client
RUN apt-get update \
  && apt-get install -y --no-install-recommends postgresql-client-15 \
  && rm -rf /var/lib/apt/lists/*

FROM ${NODE_IMAGE} AS runtime
# tini is PID 1: it forwards SIGTERM/SIGINT to node, whose handler drains in-flight requests for
# SHUTDOWN_TIMEOUT_MS, and reaps children (pg_dump during a backup).
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini libpq5 \
  && apt-get clean \
  && rm -rf /var/lib/apt/lists/*
COPY --from=pg-client /usr/lib/postgresql/15/bin/pg_dump /usr/lib/postgresql/15/bin/pg_restore /usr/local/bin/
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
# Owned by root and read-only for the `node` user: the app writes nothing beside itself, so the
# image also runs with a read-only root filesystem (PostgreSQL in DATABASE_URL; DATA_DIR and
# BACKUP_DIR only when they point at a mounted volume).
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY drizzle drizzle
COPY package.json package.json
USER node
EXPOSE 3000
# Node itself (fetch), no curl in the image; liveness only, so a database outage does not get
# the container restarted (readiness is the load balancer's business: /api/health/ready).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/api/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--enable-source-maps", "dist/server.js"]
