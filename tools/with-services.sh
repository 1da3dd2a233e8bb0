#!/usr/bin/env bash
# Run a command (the test suite) with every service the tests use, installed and running:
#
#   bash tools/with-services.sh .venv/bin/pytest
#
# - PostgreSQL for the storage tests: installed from Debian's packages when missing and
#   started when down (.ci/postgres.sh), unless MEDIAGUARD_TEST_POSTGRES_URL already
#   names a server. A server this script started is stopped again when the command ends.
# - Debian's Chromium for the review UI's browser tests, and the DejaVu and Liberation
#   fonts the text tests render, installed when missing.
# - GStreamer's RTSP server (gst-rtsp-server, driven from Debian's python3 through
#   PyGObject) for the RTSP tests, installed when missing: Debian packages no standalone
#   RTSP server.
# - nginx with nginx-rtmp, the RTMP server the tests play streams from, installed when
#   missing.
# - openssl, which makes the certificate of the https stream tests' local server.
# - MEDIAGUARD_REQUIRE_SERVICES and MEDIAGUARD_REQUIRE_BROWSER are set, so a test whose
#   service is still missing fails instead of skipping: the run covers everything.
# Installing needs root or sudo. Packages it installed stay installed.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

log() { printf 'with-services.sh: %s\n' "$*" >&2; }
as_root() {
    if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi
}

if ! command -v chromium >/dev/null; then
    log "installing Debian's chromium for the browser tests"
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends chromium
fi

# Debian's DejaVu and Liberation fonts: the text (OCR) tests render real fonts onto real
# photos.
if [[ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
    || ! -f /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ]]; then
    log "installing Debian's DejaVu and Liberation fonts for the text tests"
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends fonts-dejavu-core fonts-liberation
fi

# GStreamer's RTSP server for the RTSP tests (tests/live/rtsp_server.py, run by Debian's
# /usr/bin/python3): PyGObject, the server's typelib (it brings GStreamer's own), and the
# elements it uses, udpsrc and RTP from plugins-good, appsrc and appsink from plugins-base.
if ! /usr/bin/python3 -I tests/live/rtsp_server.py --check; then
    log "installing GStreamer's RTSP server for the RTSP tests"
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends python3-gi \
        gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
fi

# nginx-rtmp for the tests that play RTMP from a server (tests/live/rtmp_origin.py); each
# test runs its own nginx on a free port of 127.0.0.1, in the foreground.
if ! command -v nginx >/dev/null || [[ ! -f /usr/lib/nginx/modules/ngx_rtmp_module.so ]]; then
    log "installing nginx and nginx-rtmp for the RTMP server tests"
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends nginx libnginx-mod-rtmp
fi

if ! command -v openssl >/dev/null; then
    log "installing openssl for the https stream tests' certificate"
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends openssl
fi

# The cluster's state before this run ("online" or not), so only what was started here
# is stopped here.
cluster_status() {
    command -v pg_lsclusters >/dev/null || return 0
    pg_lsclusters -h 2>/dev/null | awk '$2 == "main" {print $4; exit}'
}

started_postgres=""
if [[ -z "${MEDIAGUARD_TEST_POSTGRES_URL:-}" ]]; then
    before="$(cluster_status)"
    MEDIAGUARD_TEST_POSTGRES_URL="$(bash .ci/postgres.sh)"
    export MEDIAGUARD_TEST_POSTGRES_URL
    [[ "$before" == online* ]] || started_postgres=yes
fi

stop_postgres() {
    if [[ -n "$started_postgres" ]]; then
        version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
        log "stopping the PostgreSQL cluster $version/main started for this run"
        as_root pg_ctlcluster "$version" main stop || true
    fi
}
trap stop_postgres EXIT

export MEDIAGUARD_REQUIRE_SERVICES=1 MEDIAGUARD_REQUIRE_BROWSER=1
"$@"
