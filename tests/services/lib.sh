# shellcheck shell=bash
# Shared helpers for the tests/services/*.sh scripts (sourced, not executed).
#
# Provides:
#   log MSG...              print a message to stderr, prefixed with the service name
#   die MSG...              log and exit 1
#   ensure_packages CMD PKG...
#                           install the Debian packages PKG... with apt-get unless
#                           command CMD is already available (non-interactive, retries
#                           while the dpkg/apt lock is held, runs `apt-get update` once
#                           if a package cannot be found)
#   port_open HOST PORT     true if a TCP connection to HOST:PORT succeeds
#   wait_port HOST PORT SECS [PID]
#                           wait until HOST:PORT accepts connections; fails early if
#                           PID (optional) dies
#   pid_alive PIDFILE       true if PIDFILE names a live process
#   wait_pid_gone PID SECS  wait until process PID has exited
#   lock_dir DIR            take an exclusive lock on DIR/.lock until exit
#
# Scripts set SERVICE before sourcing this file. Daemons must be started with
# `9>&-` so they do not inherit (and keep holding) the lock.

: "${SERVICE:=service}"
: "${APELTOOLS_SERVICES_BASE:=/tmp/apeltools-services}"
# Daemons and admin tools live in sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { printf '%s: %s\n' "$SERVICE" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

_apt() {
    # Run apt-get, retrying while another apt/dpkg process holds the lock.
    local tries=0 out rc
    while :; do
        set +e
        out=$(DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
              -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
              "$@" 2>&1)
        rc=$?
        set -e
        if [ "$rc" -eq 0 ]; then
            printf '%s\n' "$out" | tail -n 3 >&2
            return 0
        fi
        if printf '%s' "$out" | grep -qiE 'could not get lock|unable to acquire|lock-frontend'; then
            tries=$((tries + 1))
            [ "$tries" -lt 60 ] || { printf '%s\n' "$out" >&2; return "$rc"; }
            log "apt is locked by another process, retrying in 5s ($tries)"
            sleep 5
            continue
        fi
        printf '%s\n' "$out" >&2
        return "$rc"
    done
}

ensure_packages() {
    local cmd=$1; shift
    if command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || [ -e "$cmd" ]; then
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "'$cmd' missing and not root: install $* with apt-get"
    log "installing Debian packages: $*"
    local start=$SECONDS created_policy=0
    # Never let a package's maintainer script start the system-wide daemon
    # (it would grab the default ports); we run our own private instance.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    local rc=0
    if ! _apt install -y --no-install-recommends "$@"; then
        log "install failed, running apt-get update and retrying"
        _apt update || true
        _apt install -y --no-install-recommends "$@" || rc=$?
    fi
    if [ "$created_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ "$rc" -eq 0 ] || die "apt-get install $* failed"
    log "installed $* in $((SECONDS - start))s"
}

port_open() {
    # bash's /dev/tcp; the subshell keeps the fd from leaking.
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

pid_alive() {
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_port() {
    local host=$1 port=$2 secs=$3 pid=${4:-} i=0
    while [ "$i" -lt $((secs * 5)) ]; do
        port_open "$host" "$port" && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

wait_pid_gone() {
    local pid=$1 secs=$2 i=0
    while kill -0 "$pid" 2>/dev/null; do
        [ "$i" -lt $((secs * 5)) ] || return 1
        sleep 0.2
        i=$((i + 1))
    done
    return 0
}

# Stop the process of a pid file: ask it politely (the command given, else SIGTERM), wait up to
# GRACE seconds, then SIGKILL. A pid file whose process is gone is just removed.
stop_pidfile() {
    local pidfile=$1 grace=$2 pid
    shift 2
    if ! pid_alive "$pidfile"; then
        log "not running"
        rm -f "$pidfile"
        return 0
    fi
    pid=$(cat "$pidfile")
    if [ $# -gt 0 ]; then
        "$@" >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    else
        kill -TERM "$pid" 2>/dev/null || true
    fi
    if ! wait_pid_gone "$pid" "$grace"; then
        log "pid $pid did not stop in ${grace}s, killing"
        kill -KILL "$pid" 2>/dev/null || true
        wait_pid_gone "$pid" 10 || die "could not stop pid $pid"
    fi
    rm -f "$pidfile"
    echo "$SERVICE stopped"
}

# SIGKILL the process of a pid file (a crash, for fault tests) and wait until it is gone; WHAT
# names it in the messages.
kill_pidfile() {
    local pidfile=$1 what=$2 pid
    pid_alive "$pidfile" || return 0
    pid=$(cat "$pidfile")
    kill -KILL "$pid"
    wait_pid_gone "$pid" 30 || die "$what (pid $pid) survived SIGKILL"
    log "$what killed"
}

# The arguments of a cluster script: `CMD [DIR]`, or for one node (`start-node`, `node-status`, ...)
# `CMD N [DIR]`; sets CMD, NODE_ARG and DIR (by default $APELTOOLS_SERVICES_BASE/NAME).
# Usage: cluster_args NAME "$@"
cluster_args() {
    local name=$1
    shift
    CMD=${1:-status}
    if [[ "$CMD" == *-node || "$CMD" == node-* ]]; then
        NODE_ARG=${2:?node number 1..3 required}
        DIR=${3:-$APELTOOLS_SERVICES_BASE/$name}
    else
        NODE_ARG=""
        DIR=${2:-$APELTOOLS_SERVICES_BASE/$name}
    fi
}

lock_dir() {
    # Serialise start/stop of one service directory (e.g. pytest-xdist workers
    # starting the same service at once). The lock is held until the script exits.
    mkdir -p "$1"
    exec 9>>"$1/.lock"
    if command -v flock >/dev/null 2>&1; then
        flock -w 900 9 || die "timed out waiting for the lock on $1"
    fi
}
