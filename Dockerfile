# syntax=docker/dockerfile:1
# One image for dbhealth's Python services: the exporter, the receiver and its worker,
# the demo's jobs (docker-compose.yml picks the command). Multi-stage: the build stage
# installs the project into a virtualenv; `runtime` copies only that virtualenv onto a
# slim base, with no compiler, no pip cache and a non-root user; `verifier` is runtime
# plus what the backup verifier's physical restore drill runs (pgBackRest, PostgreSQL 15's
# server), which the other services do not need (about 60 MB more, and a server binary
# on every container): compose builds `--target runtime` for them, `verifier` for it.
# Nothing builds this image in the test suite (no Docker daemon there):
# tests/deploy/test_compose.py validates how compose uses it (docs/deploy.md).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Every dependency ships manylinux wheels (psycopg[binary], gevent, pglast): no compiler.
COPY pyproject.toml README.md ./
COPY exporter/ exporter/
COPY receiver/ receiver/
COPY backup/ backup/
COPY rulegen/ rulegen/
COPY dashgen/ dashgen/
COPY settings_layers/ settings_layers/
COPY pgmigrations/ pgmigrations/
COPY demo/ demo/
RUN python -m venv /opt/dbhealth \
 && /opt/dbhealth/bin/pip install --upgrade pip \
 && /opt/dbhealth/bin/pip install .

FROM ${PYTHON_IMAGE} AS runtime
# postgresql-client 15 (bookworm): pg_dump/pg_restore for the backup verifier's restore drill.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dbhealth \
 && useradd --system --uid 10001 --gid dbhealth --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin dbhealth
COPY --from=build /opt/dbhealth /opt/dbhealth
COPY deploy/docker/entrypoint.sh /usr/local/bin/dbhealth-entrypoint
ENV PATH=/opt/dbhealth/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HEALTHCHECK_URL=http://127.0.0.1:9188/health
USER 10001:10001
EXPOSE 9188 9095
# The exporter's /health by default; compose points the receiver's at /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]
ENTRYPOINT ["dbhealth-entrypoint"]
CMD ["dbhealth-exporter"]

FROM runtime AS verifier
USER root
# The physical drill (backup/pgbackrest/restore.py): `pgbackrest restore` into a scratch
# directory, then PostgreSQL 15's pg_ctl starts the copy. pgBackRest is pinned to
# bookworm's 2.45-1, the version deploy/postgres/Dockerfile archives with. postgresql-common
# would create and start a `main` cluster when postgresql-15 is installed: it is installed
# first and told not to (as the official postgres image does). The restored cluster keeps
# production's locale, en_US.utf8 in the postgres image: without it the copy refuses
# connections ("database locale is incompatible with operating system"). The build fails
# if a cluster was made anyway (pg_lsclusters) or the locale is missing.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-common locales \
 && sed -ri 's/#? *(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
 && grep -qx 'create_main_cluster = false' /etc/postgresql-common/createcluster.conf \
 && apt-get install -y --no-install-recommends postgresql-15 pgbackrest=2.45-1 \
 && rm -rf /var/lib/apt/lists/* \
 && localedef -i en_US -c -f UTF-8 en_US.UTF-8 \
 && locale -a | grep -qx en_US.utf8 \
 && test -z "$(pg_lsclusters -h)" \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/dbhealth/drill
# The drill's directory: compose mounts a named volume here, which starts out owned by 10001.
USER 10001:10001
