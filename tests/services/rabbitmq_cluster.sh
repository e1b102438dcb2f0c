#!/usr/bin/env bash
# tests/services/rabbitmq_cluster.sh — a private 3-node RabbitMQ cluster with STOMP for the tests.
#
# Usage: tests/services/rabbitmq_cluster.sh start|stop|status|url [DIR]
#        tests/services/rabbitmq_cluster.sh start-node|stop-node|kill-node N [DIR]
#
#   DIR   state directory; node N (1..3) lives in DIR/nodeN (run by tests/services/rabbitmq.sh);
#         default $APELTOOLS_SERVICES_BASE/rabbitmq-cluster
#
# Node N: Erlang node apeltoolsN@localhost, STOMP on 127.0.0.1:(61620+N), AMQP on 13680+N,
# distribution on 23680+N (rabbitmq.sh: AMQP+10000, below the ephemeral ports), all
# with one Erlang cookie (DIR/.erlang.cookie, copied into each node's HOME). Nodes 2 and 3 join
# node 1 on their first start; afterwards any node restarts into the cluster by itself
# (start-node after stop-node/kill-node: the cluster and its queues are kept).
# `start` with no node running builds the cluster afresh (each node's mnesia and join marker
# removed): RabbitMQ would otherwise make a node that was not the last to stop wait for its
# peers, and a cluster left behind by an interrupted run (nodes killed in any order) would
# never come up. A test cluster keeps no queues across a full stop.
# Queues are classic unless declared otherwise: the tests declare the accounting queue as a
# quorum queue (x-queue-type: quorum) so that it survives the loss of one node.
# On success `start` prints: rabbitmq-cluster ready: stomp://127.0.0.1:61621,61622,61623
set -euo pipefail

SERVICE=rabbitmq-cluster
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

cluster_args rabbitmq-cluster "$@"
NODES=(1 2 3)
HOST=127.0.0.1
RMQ_BIN=/usr/lib/rabbitmq/bin

stomp_port() { echo $((61620 + $1)); }
amqp_port() { echo $((13680 + $1)); }
node_name() { echo "apeltools$1@localhost"; }

node_env() {
    # The environment under which tests/services/rabbitmq.sh runs node N.
    echo APELTOOLS_RABBITMQ_STOMP_PORT="$(stomp_port "$1")" APELTOOLS_RABBITMQ_AMQP_PORT="$(amqp_port "$1")" \
        APELTOOLS_RABBITMQ_NODENAME="$(node_name "$1")"
}

node_script() {
    local n=$1; shift
    # shellcheck disable=SC2046
    env $(node_env "$n") bash "$HERE/rabbitmq.sh" "$@" "$DIR/node$n"
}

ctl() {
    # rabbitmqctl against node N, as the broker's user, with the shared cookie.
    local n=$1; shift
    local envs=(HOME="$DIR/node$n" ERL_EPMD_ADDRESS=127.0.0.1 LANG=C.UTF-8 LC_ALL=C.UTF-8
                PATH="$RMQ_BIN:/usr/sbin:/usr/bin:/sbin:/bin")
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u rabbitmq -- env "${envs[@]}" "$RMQ_BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"
    else
        env "${envs[@]}" "$RMQ_BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"
    fi
}

share_cookie() {
    local n=$1
    mkdir -p "$DIR/node$n"
    if [ ! -s "$DIR/.erlang.cookie" ]; then
        (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F > "$DIR/.erlang.cookie")
    fi
    if ! cmp -s "$DIR/.erlang.cookie" "$DIR/node$n/.erlang.cookie" 2>/dev/null; then
        rm -f "$DIR/node$n/.erlang.cookie"
        cp "$DIR/.erlang.cookie" "$DIR/node$n/.erlang.cookie"
    fi
}

start_node() {
    local n=$1
    share_cookie "$n"
    node_script "$n" start >/dev/null
    if [ "$n" -ne 1 ] && [ ! -e "$DIR/node$n/joined" ]; then
        log "node $n joins the cluster of node 1"
        ctl "$n" stop_app >/dev/null
        ctl "$n" join_cluster "$(node_name 1)" >/dev/null
        ctl "$n" start_app >/dev/null
        touch "$DIR/node$n/joined"
        node_script "$n" start >/dev/null
    fi
    log "node $n up: stomp://$HOST:$(stomp_port "$n")"
}

urls() {
    local ports="" m
    for m in "${NODES[@]}"; do ports="$ports${ports:+,}$(stomp_port "$m")"; done
    echo "stomp://$HOST:$ports"
}

node_running() {
    pid_alive "$DIR/node$1/rabbitmq.pid"
}

cold_reset() {
    # No node is running: forget the old cluster so that node 1 boots alone and the others join.
    local m
    for m in "${NODES[@]}"; do
        if [ -d "$DIR/node$m/mnesia" ] || [ -e "$DIR/node$m/joined" ]; then
            log "node $m: no node running, its old cluster state is removed"
        fi
        rm -rf "$DIR/node$m/mnesia" "$DIR/node$m/joined"
    done
}

do_start() {
    local m any=0
    for m in "${NODES[@]}"; do
        if node_running "$m"; then any=1; fi
    done
    if [ "$any" -eq 0 ]; then cold_reset; fi
    for m in "${NODES[@]}"; do start_node "$m"; done
    echo "rabbitmq-cluster ready: $(urls)"
}

# The Erlang VM's own pid: SIGKILL takes the node down at once, as a crash would.
do_kill_node() { kill_pidfile "$DIR/node$1/rabbitmq.pid" "node $1"; }

do_status() {
    local m rc=0
    for m in "${NODES[@]}"; do
        node_script "$m" status || rc=3
    done
    return $rc
}

case "$CMD" in
    start|stop|start-node|stop-node|kill-node) lock_dir "$DIR" ;;
esac

case "$CMD" in
    start) do_start ;;
    # Stop in reverse: node 1 (where the others joined) last.
    stop) for m in 3 2 1; do node_script "$m" stop; done ;;
    status) do_status ;;
    url) urls ;;
    start-node) start_node "$NODE_ARG" ;;
    stop-node) node_script "$NODE_ARG" stop ;;
    kill-node) do_kill_node "$NODE_ARG" ;;
    *) echo "usage: $0 start|stop|status|url [DIR] | start-node|stop-node|kill-node N [DIR]" >&2; exit 2 ;;
esac
