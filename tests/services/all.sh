#!/usr/bin/env bash
# tests/services/all.sh — start, stop or show every test service at once.
#
# Usage: tests/services/all.sh start|stop|status|restart
#
# Runs mariadb.sh, rabbitmq.sh, activemq.sh and slapd.sh (in that order; stop
# in reverse) with their default state directories under
# $APELTOOLS_SERVICES_BASE (default /tmp/apeltools-services) and loads the
# sample BDII data into slapd after `start`. The GOCDB stand-in is in-process
# (tests/services/gocdb.py) and is not started here.
# Exits non-zero if any service failed; the others are still attempted.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CMD=${1:-status}
SERVICES=(mariadb rabbitmq activemq slapd)
rc=0

case "$CMD" in
    start|status|restart) order=("${SERVICES[@]}") ;;
    stop) order=(slapd activemq rabbitmq mariadb) ;;
    *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac

for s in "${order[@]}"; do
    start=$SECONDS
    if ! bash "$HERE/$s.sh" "$CMD"; then
        [ "$CMD" = status ] || echo "all: $s $CMD failed" >&2
        rc=1
        continue
    fi
    if [ "$CMD" != status ]; then
        echo "all: $s $CMD took $((SECONDS - start))s" >&2
    fi
    if [ "$s" = slapd ] && { [ "$CMD" = start ] || [ "$CMD" = restart ]; }; then
        bash "$HERE/slapd.sh" load "$HERE/ldap/bdii-sample.ldif" || rc=1
    fi
done
exit "$rc"
