# One image for every sensorflow service (ingestor, notifier, simulator,
# setup, emqx-users); docker-compose.yml picks the program with `command`.
#
#   docker build -t sensorflow:0.1.0 .
#   docker run --rm sensorflow:0.1.0 node dist/ingestor/main.js --help

# ---- build: dev dependencies, TypeScript → dist/ ------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# Sources only (.dockerignore keeps out .env, data, tests, node_modules).
COPY . .
RUN npm run build

# ---- production dependencies only ---------------------------------------------
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# ---- runtime --------------------------------------------------------------------
FROM node:24-bookworm-slim
# tini as PID 1: forwards docker stop's SIGTERM to node (the ingestor then drains
# its write-ahead log and exits 0) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
# Simulator scenarios and the dev broker's users file are read at run time (the
# default routes are built in). Without the users file (missing here until the
# image ran the dev broker, test/integration/docker.test.ts) the dev broker's
# default BROKER_USERS_FILE does not exist in /app and it exits 2.
COPY simulator/scenarios simulator/scenarios
COPY broker/dev/users.yaml broker/dev/users.yaml
# Where the services keep state; compose mounts named volumes here, and a new
# volume takes these owners, so the non-root user can write.
RUN mkdir -p /app/data/wal /var/lib/sensorflow/tokens /var/lib/sensorflow/emqx \
 && chown -R node:node /app/data /var/lib/sensorflow
USER node
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/ingestor/main.js"]
# The service's own /healthz, where its settings say it listens (HTTP_PORT for
# the ingestor, NOTIFIER_PORT for the notifier; HEALTHCHECK_URL overrides);
# compose sets HEALTHCHECK_MQTT=true for the simulator (common/healthcheck-target.ts).
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["node", "dist/common/healthcheck.js"]
