# syntax=docker/dockerfile:1
# The Atelier operator image. Three stages: `build` compiles the TypeScript (tsconfig.build.json) to
# dist/; `deps` installs production dependencies only (npm ci --omit=dev); the final stage holds
# node, those dependencies, dist/ and the Solidity sources the operator compiles with solc-js at run
# time. It runs as uid/gid 65532 (non-root) and writes nothing outside /tmp, so it works with
# readOnlyRootFilesystem (the Helm chart mounts an emptyDir there); the solc cache goes to
# ATELIER_CACHE=/tmp/atelier-cache.
#   docker build -t ghcr.io/atelier-dev/atelier:0.1.0 .
#   docker run --rm ghcr.io/atelier-dev/atelier:0.1.0 help
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts are skipped: the build needs only typescript and type packages, not the dev-only
# binaries (the `node` package, anvil, swc) whose scripts download more.
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY operator/ operator/
# The image's own node runs tsc, not node_modules/.bin/node (left uninstalled by --ignore-scripts).
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error && npm cache clean --force

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="atelier" \
      org.opencontainers.image.description="Kubernetes operator for GPU render jobs that burst to decentralized compute and settle on-chain" \
      org.opencontainers.image.source="https://github.com/atelier-dev/atelier" \
      org.opencontainers.image.licenses="Apache-2.0"
# The operator never runs npm; dropping it shrinks the image and what an attacker finds in it.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
ENV NODE_ENV=production \
    HOME=/tmp \
    ATELIER_CACHE=/tmp/atelier-cache
WORKDIR /app
COPY --chown=0:0 package.json ./
COPY --from=deps --chown=0:0 /app/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/dist/operator ./dist/operator
# compile.ts finds the contracts beside dist/ at operator/src/settlement/contracts.
COPY --chown=0:0 operator/src/settlement/contracts/ ./operator/src/settlement/contracts/
# Files stay root-owned and read-only to the operator's uid; only /tmp is writable.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "dist/operator/src/cli.js"]
CMD ["run"]
