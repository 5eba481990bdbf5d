# syntax=docker/dockerfile:1
# ATP allocation service. Untested here (no Docker engine on the build machine); see docs/OPERATIONS.md.
# Node 24 is the current Active LTS line.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: all dependencies, compile TypeScript to dist/ -------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/copy-docs-assets.mjs ./scripts/
# tsc, then the /docs UI bundle (a devDependency) copied to dist/assets
RUN npm run build

# ---- deps: production dependencies only ---------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime: compiled JS + production node_modules + migrations, as the unprivileged `node` user
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    ATP_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY drizzle ./drizzle
# /data is only written in embedded-PGlite mode (no DATABASE_URL)
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
# liveness only; readiness (/readyz) is for the orchestrator's traffic decisions
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# exec form: node is the process that receives SIGTERM (no npm/tsx wrapper in between)
STOPSIGNAL SIGTERM
CMD ["node", "dist/index.js"]
