# A stand-in for the official node:24-bookworm-slim, which cannot be pulled on
# the test machines: Debian bookworm (debootstrap --variant=minbase, imported
# as the build argument MINBASE) with this machine's Node and npm, its CA
# bundle, and the user `node` (uid/gid 1000) that the official image has.
# Made by test/docker/base-image.sh; the project's Dockerfile builds on it
# unchanged.
ARG MINBASE
FROM ${MINBASE}
ARG NODE_VERSION
LABEL org.sensorflow.stand-in="node:24-bookworm-slim from debootstrap and the host's node" \
      org.sensorflow.node-version="${NODE_VERSION}"
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
# Package downloads here go through a proxy with its own CA: npm (Node) trusts
# it through NODE_EXTRA_CA_CERTS, as it trusts the public CAs by itself.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
CMD ["node"]
