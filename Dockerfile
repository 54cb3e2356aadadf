# syntax=docker/dockerfile:1
# The Atelier operator image. Three stages: `build` compiles the TypeScript (tsconfig.build.json) to
# dist/ and the settlement contracts (with solc-js and OpenZeppelin) to dist/…/settlement/artifacts.json;
# `deps` installs production dependencies only (npm ci --omit=dev) and drops what the operator never
# loads (solc: the contracts are compiled already; ethers' browser bundles; TypeScript sources and
# declarations, source maps, tests, docs); the final stage holds node, those dependencies and dist/,
# and compiles nothing at run time. It runs as uid/gid 65532 (non-root) and writes nothing outside
# /tmp, so it works with readOnlyRootFilesystem (the Helm chart mounts an emptyDir there).
# NODE_IMAGE names the base: any Debian bookworm with Node 24 in /usr/local (node and npm). Where Docker
# runs, the official image does:
#   docker build -t ghcr.io/atelier-dev/atelier:0.1.0 .
#   docker run --rm ghcr.io/atelier-dev/atelier:0.1.0 help
# Without a Docker engine or a registry, `make image` (scripts/build-image.sh) builds the same file with
# buildah on a base made from Debian's packages (mmdebstrap) and Node from the npm `node` package.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts and optional (platform binary) packages are skipped: the build needs only typescript,
# type packages, solc-js and OpenZeppelin, not the dev-only binaries (the `node` package, anvil, forge,
# swc) whose packages are large or whose scripts download more.
RUN npm ci --ignore-scripts --omit=optional --no-audit --no-fund --no-update-notifier --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY operator/ operator/
# The image's own node runs tsc, not node_modules/.bin/node (left uninstalled by --ignore-scripts).
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json && \
    node dist/operator/src/settlement/compile.js --write dist/operator/src/settlement/artifacts.json

# Besides tests, sources and docs, the deps stage drops production dependencies the operator never
# loads: typia's command line (typescript, inquirer, rxjs; @nosana/types needs only typia's runtime)
# and cdk8s (the constructs studios import for their own jobs, not the operator).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=error && \
    npm cache clean --force && \
    rm -rf node_modules/solc node_modules/ethers/dist node_modules/ethers/src.ts && \
    rm -rf node_modules/typescript node_modules/inquirer node_modules/rxjs node_modules/cdk8s node_modules/cdk8s-plus-27 node_modules/constructs && \
    find node_modules -type d \( -name test -o -name tests -o -name __tests__ \) -prune -exec rm -rf {} + && \
    find node_modules -type f \( -name '*.map' -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' \
      -o -iname '*.md' -o -iname 'CHANGELOG*' \) -delete

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
# dist/operator/src/settlement/artifacts.json holds the compiled contracts; no Solidity source ships,
# so compile.ts serves those artifacts and never loads solc.
COPY --from=build --chown=0:0 /src/dist/operator ./dist/operator
# Files stay root-owned and read-only to the operator's uid; only /tmp is writable.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "dist/operator/src/cli.js"]
CMD ["run"]
