#!/usr/bin/env bash
# ceph-cluster.sh - a throwaway single-node Ceph cluster for the RBD tests.
#
# Usage:
#   ceph-cluster.sh start [DIR]   start one; print the path of its ceph.conf
#   ceph-cluster.sh stop CONF     stop the cluster CONF belongs to, remove it
#
# Design notes. One monitor and one OSD (bluestore on a sparse file), no
# mgr, listening on 127.0.0.1 only on free ports picked at start, so two
# clusters can run side by side. Everything (conf, keyrings, mon and osd
# data, logs, admin sockets, pid files) lives in one new directory under
# DIR (default: $MBLK_TEST_TMPDIR, else $TMPDIR, else /tmp; bluestore
# opens its block file with O_DIRECT, so DIR must not be on tmpfs).
# Nothing is written under /etc/ceph or /var/lib/ceph and nothing is
# installed here: scripts/deps.sh installs ceph-mon, ceph-osd and
# ceph-common.
#
# start prints exactly one line on stdout, the conf's path, once the
# cluster serves RBD I/O: the pool `rbd` exists and initialised, and an
# image can be created, written and removed. Clients find the cluster
# with CEPH_CONF=<that path> (its [client] section names the admin
# keyring). Every wait is bounded (MBLK_CEPH_START_TIMEOUT seconds, 90
# by default); on failure start says which step failed, prints the tail
# of each daemon's log, stops what it started, and exits 1 (2 when the
# Ceph programs are not installed, so callers can tell "cannot run here"
# from "broke").
#
# With MBLK_CEPH_OWNER=PID, start also leaves a watchdog (in a session
# of its own, like the daemons) that stops the cluster once PID is gone:
# a test runner killed by a timeout (SIGKILL, no trap runs) leaves no
# daemons behind.
#
# stop signals only the pids start recorded, and only after checking
# that /proc/PID/cmdline still names this cluster's conf (a recycled pid
# is never signalled): the OSD first, then the monitor, SIGTERM and after
# 10 s SIGKILL. Then it removes the directory.
#
# Speed-ups, measured here (docs in ../../../shared/docs/ceph-notes.md):
# `paxos propose interval` and `paxos min wait` bring a start from ~10 s
# down to ~5 s. `client mount timeout` bounds a client waiting for a
# monitor; `rados osd op timeout` bounds an I/O waiting for an OSD.
set -euo pipefail

prog=${0##*/}
die() {
	echo "$prog: $*" >&2
	exit 1
}

# A free TCP port on 127.0.0.1 (bound then released: another program
# could take it before the monitor does, which start then reports).
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# True if pid is alive and its command line names conf.
pid_is_ours() {
	local pid=$1 conf=$2
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$conf"
}

# Signals the daemon whose pid file is $1 if it is still ours; waits for
# it to exit (SIGKILL after 10 s).
stop_daemon() {
	local pidfile=$1 conf=$2 pid i
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	pid_is_ours "$pid" "$conf" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 100); do
		pid_is_ours "$pid" "$conf" || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	for i in $(seq 50); do
		pid_is_ours "$pid" "$conf" || return 0
		sleep 0.1
	done
	echo "$prog: pid $pid ($pidfile) did not exit after SIGKILL" >&2
}

cmd_stop() {
	local conf=${1:-}
	[ -n "$conf" ] || die "usage: $prog stop CONF"
	[ -f "$conf" ] || die "$conf: no such file (already stopped?)"
	local dir
	dir=$(cd "$(dirname "$conf")" && pwd)
	conf=$dir/ceph.conf
	[ -f "$dir/.mblk-ceph-cluster" ] ||
		die "$dir was not made by $prog: not touching it"
	local f
	for f in "$dir"/run/osd.*.pid; do
		[ -e "$f" ] && stop_daemon "$f" "$conf"
	done
	stop_daemon "$dir/run/mon.a.pid" "$conf"
	rm -rf "$dir"
}

# ---- start -----------------------------------------------------------

DIR="" CONF="" DEADLINE=0 TIMEOUT_S=0

# The last lines of every daemon log, for a failure report.
log_tails() {
	local f
	for f in "$DIR"/log/*.log; do
		[ -s "$f" ] || continue
		echo "---- last lines of $f:"
		tail -n 15 "$f"
	done
}

# Reports why start failed with the logs' tails, stops what was started
# (before printing: a reader that goes away must not leave daemons).
start_fail() {
	local tails
	tails=$(log_tails 2>&1) || true
	(cmd_stop "$CONF") >/dev/null 2>&1 || true
	trap '' PIPE
	{
		echo "$prog: cannot start a Ceph cluster in $DIR: $*"
		printf '%s\n' "$tails"
	} >&2 || true
	exit 1
}

# step WHAT CMD...: runs one set-up command, bounded by the time left,
# its output in log/setup.log; a failure or a timeout ends the start.
step() {
	local what=$1 left=$((DEADLINE - SECONDS)) rc=0
	shift
	[ $left -gt 0 ] || left=1
	echo "== $what: $*" >>"$DIR/log/setup.log"
	timeout -k 5 "$left" "$@" >>"$DIR/log/setup.log" 2>&1 || rc=$?
	[ $rc -ne 124 ] || start_fail "$what timed out (start bound: ${TIMEOUT_S}s)"
	[ $rc -eq 0 ] || start_fail "$what failed (exit status $rc)"
}

# Waits until "$@" succeeds or the start deadline passes.
wait_for() {
	local what=$1
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $DEADLINE ] ||
			start_fail "timed out after ${TIMEOUT_S}s waiting for $what"
		sleep 0.2
	done
}

# Starts a daemon in the foreground mode (-f) in its own session, logs
# to its log file, records its pid; fails if it dies at once.
start_daemon() {
	local name=$1
	shift
	setsid "$@" -f </dev/null >>"$DIR/log/$name.stdout" 2>&1 &
	echo $! >"$DIR/run/$name.pid"
}

daemon_alive() {
	pid_is_ours "$(cat "$DIR/run/$1.pid")" "$CONF"
}

cmd_start() {
	local base=${1:-${MBLK_TEST_TMPDIR:-${TMPDIR:-/tmp}}}
	local t
	for t in ceph-mon ceph-osd ceph ceph-authtool monmaptool rbd uuidgen python3; do
		command -v "$t" >/dev/null 2>&1 || {
			echo "$prog: $t is not installed (bash scripts/deps.sh installs the Ceph packages)" >&2
			exit 2
		}
	done
	TIMEOUT_S=${MBLK_CEPH_START_TIMEOUT:-90}
	DEADLINE=$((SECONDS + TIMEOUT_S))
	DIR=$(mktemp -d "$base/mblk-ceph-XXXXXX") || die "cannot make a directory under $base"
	DIR=$(cd "$DIR" && pwd)
	CONF=$DIR/ceph.conf
	touch "$DIR/.mblk-ceph-cluster"
	mkdir -p "$DIR/run" "$DIR/log" "$DIR/crash" "$DIR/mon/a" "$DIR/osd"

	local fsid p2 p1
	fsid=$(uuidgen)
	p2=$(free_port)
	p1=$(free_port)
	while [ "$p1" = "$p2" ]; do p1=$(free_port); done
	local mon_addr="[v2:127.0.0.1:$p2,v1:127.0.0.1:$p1]"

	cat >"$CONF" <<EOF
# A throwaway cluster made by $prog; removed by '$prog stop $CONF'.
[global]
fsid = $fsid
mon host = $mon_addr
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
crash dir = $DIR/crash
pid file = $DIR/run/\$name.daemon-pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
client mount timeout = 30
rados osd op timeout = 60

[mon]
mon data = $DIR/mon/\$id
paxos propose interval = 0.1
paxos min wait = 0.01

[osd]
osd data = $DIR/osd/\$id
osd objectstore = bluestore
bluestore block path = $DIR/osd/\$id.bluestore
bluestore block create = true
bluestore block size = ${MBLK_CEPH_OSD_SIZE:-8589934592}
bluestore block db create = false
bluestore block wal create = false
osd memory target = 1073741824
osd max object name len = 256
osd max object namespace len = 64

[client]
keyring = $DIR/client.admin.keyring
EOF

	# Keys: the monitor's, and the admin's imported into it.
	step "ceph-authtool (mon. key)" ceph-authtool --create-keyring \
		"$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *'
	step "ceph-authtool (client.admin key)" ceph-authtool \
		--create-keyring "$DIR/client.admin.keyring" --gen-key \
		-n client.admin --cap mon 'allow *' --cap osd 'allow *' \
		--cap mgr 'allow *'
	step "ceph-authtool --import-keyring" ceph-authtool \
		"$DIR/mon.keyring" --import-keyring "$DIR/client.admin.keyring"
	step monmaptool monmaptool --create --fsid "$fsid" --addv a \
		"$mon_addr" "$DIR/monmap"

	# ceph-mon --mkfs exits 0 even when it did nothing (a non-empty mon
	# data dir): check for the store it makes.
	step "ceph-mon --mkfs" ceph-mon -c "$CONF" --mkfs -i a \
		--monmap "$DIR/monmap" --keyring "$DIR/mon.keyring"
	[ -d "$DIR/mon/a/store.db" ] ||
		start_fail "ceph-mon --mkfs made no store.db in $DIR/mon/a"
	start_daemon mon.a ceph-mon -c "$CONF" -i a
	export CEPH_CONF=$CONF
	wait_for "the monitor to answer (ceph mon stat)" \
		timeout 5 ceph --connect-timeout 5 mon stat
	daemon_alive mon.a || start_fail "ceph-mon exited"

	# The OSD: an id from the monitor, a bluestore on a sparse file,
	# its key registered, then the daemon.
	local uuid id
	uuid=$(uuidgen)
	step "ceph osd new" sh -c "ceph osd new $uuid >'$DIR/osd-id'"
	id=$(cat "$DIR/osd-id")
	case $id in '' | *[!0-9]*) start_fail "ceph osd new answered '$id'" ;; esac
	mkdir -p "$DIR/osd/$id"
	step "ceph-authtool (osd.$id key)" ceph-authtool --create-keyring \
		"$DIR/osd/$id/keyring" --gen-key -n "osd.$id"
	step "ceph auth add osd.$id" ceph auth add "osd.$id" osd 'allow *' \
		mon 'allow profile osd' -i "$DIR/osd/$id/keyring"
	step "ceph-osd --mkfs" ceph-osd -c "$CONF" -i "$id" --mkfs \
		--osd-uuid "$uuid" --keyring "$DIR/osd/$id/keyring"
	start_daemon "osd.$id" ceph-osd -c "$CONF" -i "$id" \
		--keyring "$DIR/osd/$id/keyring"
	wait_for "osd.$id to be up (ceph osd stat)" \
		sh -c "timeout 5 ceph osd stat -f json | grep -q '\"num_up_osds\":1'"
	daemon_alive "osd.$id" || start_fail "ceph-osd exited"

	# The rbd pool, one replica, initialised; then prove RBD I/O works
	# (placement groups active) by writing to a scratch image.
	step "ceph osd pool create rbd" ceph osd pool create rbd 8 8
	step "ceph osd pool set rbd size 1" ceph osd pool set rbd size 1 \
		--yes-i-really-mean-it
	step "rbd pool init rbd" rbd pool init rbd
	step "rbd create (a scratch image)" rbd create --size 4M \
		rbd/mblk-cluster-check
	wait_for "RBD I/O to work (rbd bench on a scratch image)" \
		timeout 10 rbd bench --io-type write --io-size 4K --io-total 64K \
		rbd/mblk-cluster-check
	step "rbd rm (the scratch image)" rbd rm --no-progress \
		rbd/mblk-cluster-check
	if [ -n "${MBLK_CEPH_OWNER:-}" ]; then
		setsid bash "$0" watch "$CONF" "$MBLK_CEPH_OWNER" \
			</dev/null >/dev/null 2>&1 &
	fi
	echo "$CONF"
}

# watch CONF PID: stops the cluster when PID exits (or the cluster is
# already gone).
cmd_watch() {
	local conf=$1 owner=$2
	while [ -f "$conf" ] && kill -0 "$owner" 2>/dev/null; do
		sleep 1
	done
	[ ! -f "$conf" ] || cmd_stop "$conf"
}

case ${1:-} in
watch)
	shift
	cmd_watch "$@"
	;;
start)
	shift
	cmd_start "$@"
	;;
stop)
	shift
	cmd_stop "$@"
	;;
*)
	echo "usage: $prog start [DIR] | $prog stop CONF" >&2
	exit 1
	;;
esac
