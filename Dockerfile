# One image for the Node services (ingestor, simulator); compose picks the entry point.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY ingestor ingestor
COPY simulator simulator
COPY broker broker
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
# The write-ahead log lives here; compose mounts a volume on it.
RUN mkdir -p /app/data/wal && chown -R node:node /app/data
USER node
CMD ["node", "dist/ingestor/main.js"]
