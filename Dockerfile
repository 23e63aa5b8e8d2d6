# drift's own image: the `drift` command (distribution drift-image-repro) on a
# slim Python, with git, running as a non-root user.
#
#   docker build -t drift-image-repro:0.2.0 .
#   docker run --rm \
#       --group-add "$(stat -c %g /var/run/docker.sock)" \
#       -v /var/run/docker.sock:/var/run/docker.sock \
#       -v drift-state:/var/lib/drift -v "$PWD/drift.toml:/etc/drift/drift.toml:ro" \
#       drift-image-repro:0.2.0 run --config /etc/drift/drift.toml
#
# The engine's socket belongs to root and the engine's group (`docker`), whose
# GID differs from machine to machine. The image's user `drift` (UID 10001) is
# in no such group: give the container the socket's group when it starts,
# `--group-add "$(stat -c %g /var/run/docker.sock)"` (Kubernetes:
# securityContext.supplementalGroups), instead of running it as root. With a
# remote engine (DOCKER_HOST=tcp://...:2376, DOCKER_TLS_VERIFY=1,
# DOCKER_CERT_PATH) no socket is needed.
#
# State: the SQLite database in /var/lib/drift (DRIFT_DB), repository mirrors
# in /var/cache/drift (DRIFT_CACHE_DIR); mount a volume on the first. A
# repository on a local path mounted into the container must belong to UID
# 10001: git refuses to read another user's repository.
#
# Build argument PIP_INDEX_URL: where the dependencies come from (default
# PyPI). drift's tests and demo serve a mirror on 127.0.0.1 and build with
# --network host.

FROM python:3.11-slim AS build
ARG PIP_INDEX_URL=https://pypi.org/simple/
WORKDIR /src
COPY pyproject.toml README.md ./
COPY drift/ drift/
COPY migrations/ migrations/
# The wheel, then the wheel installed (not editable) into a venv of its own,
# which is all the final stage takes from this one.
RUN python -m pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /dist . \
    && python -m venv /opt/drift \
    && /opt/drift/bin/pip install --no-cache-dir --disable-pip-version-check /dist/*.whl

FROM python:3.11-slim
LABEL org.opencontainers.image.title="drift" \
      org.opencontainers.image.description="Nightly reproducibility checks for container image builds" \
      org.opencontainers.image.licenses="Apache-2.0"
# git: drift mirrors the tracked repositories with it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin drift \
    && install -d -o drift -g drift /var/lib/drift /var/cache/drift
COPY --from=build /opt/drift /opt/drift
ENV PATH=/opt/drift/bin:$PATH \
    DRIFT_DB=sqlite:////var/lib/drift/drift.db \
    DRIFT_CACHE_DIR=/var/cache/drift
USER drift
WORKDIR /var/lib/drift
ENTRYPOINT ["drift"]
CMD ["--help"]
