#!/usr/bin/env bash
# tests/services/chromium.sh — headless Chromium from Debian, for the tests that open pages in a browser.
#
# Usage: tests/services/chromium.sh start|stop|status|url [DIR]
#
# Nothing runs in the background: `start` installs the chromium package when
# missing and prints the browser's path ("chromium ready: /usr/bin/chromium");
# each test starts its own headless browser with a fresh profile. `stop`
# does nothing (there is no daemon); `status` says whether it is installed.
set -euo pipefail

SERVICE=chromium
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

CMD=${1:-status}

browser() { command -v chromium || true; }

case "$CMD" in
    start|restart)
        ensure_packages chromium chromium fonts-dejavu-core  # a font, or screenshots show no text
        [ -n "$(browser)" ] || die "chromium is not on PATH after installing it"
        echo "chromium ready: $(browser)" ;;
    stop) echo "chromium: nothing to stop" ;;
    status) [ -n "$(browser)" ] && echo "chromium installed: $(browser)" || { echo "chromium not installed"; exit 1; } ;;
    url) browser ;;
    *) echo "usage: $0 start|stop|status|url [DIR]" >&2; exit 2 ;;
esac
