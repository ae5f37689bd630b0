#!/usr/bin/env bash
# test-serve.sh - the mblk serve command: --run (captive mode, exit
# status, $uri/$nbd/$unixsocket), --once, --pidfile, TCP on 127.0.0.1 and
# [::1], --fd with a listening socket (and socket activation), the
# graceful shutdown with a write in flight, and usage errors.
# Usage: test-serve.sh PATH-TO-MBLK
. "$(dirname "$0")/lib.sh"
need nbdinfo qemu-io

# --run: variables, and the command's exit status is ours.
out=$("$MBLK" serve 'ram:?size=1M' --run 'echo "$uri|$nbd|$unixsocket"' 2>&1)
case "$out" in
"nbd+unix:///?socket=/tmp/mblk-serve-"*"/nbd.sock|nbd+unix:///?socket="*"|/tmp/mblk-serve-"*) ;;
*) fail "--run variables: $out" ;;
esac
"$MBLK" serve 'ram:?size=1M' --run 'exit 7' 2>/dev/null
check "--run exit status" "$?" 7
"$MBLK" serve 'ram:?size=1M' --run 'nbdinfo --size "$uri"' >"$T/size" 2>&1
check "--run nbdinfo" "$(cat "$T/size")" 1048576

# --once and --pidfile.
"$MBLK" serve 'ram:?size=1M' --unix "$T/once.sock" --once --pidfile "$T/pid" >"$T/once.out" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$T/pid" ] && break; sleep 0.05; done
check "pidfile" "$(cat "$T/pid" 2>/dev/null)" "$pid"
run "--once client" nbdinfo --size "nbd+unix:///?socket=$T/once.sock"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then
	fail "--once: still running after the client left"
	kill "$pid"
fi
wait "$pid"
check "--once exit status" "$?" 0
[ -e "$T/pid" ] && fail "the pidfile is left behind"
[ -e "$T/once.sock" ] && fail "the socket is left behind"

# TCP on IPv4 and IPv6 loopback, port chosen by the kernel (0).
for addr in 127.0.0.1 '[::1]'; do
	"$MBLK" serve 'ram:?size=1M' --tcp "$addr:0" >"$T/tcp.out" 2>"$T/tcp.log" &
	pid=$!
	for _ in $(seq 100); do [ -s "$T/tcp.out" ] && break; sleep 0.05; done
	u=$(head -n1 "$T/tcp.out")
	case "$u" in
	"nbd://$addr:"[1-9]*/) ;;
	*) fail "TCP URI for $addr: '$u' $(cat "$T/tcp.log")" ;;
	esac
	run "TCP $addr" nbdinfo --size "$u"
	stop "$pid"
done

# --fd with a listening socket, and socket activation (LISTEN_FDS).
python3 - "$MBLK" "$T" <<'PY' || fail "--fd / LISTEN_FDS"
import os, socket, subprocess, sys, time
mblk, t = sys.argv[1], sys.argv[2]
for mode in ("fd", "activation"):
    path = os.path.join(t, mode + ".sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(8)
    fd = s.fileno()
    if mode == "fd":
        cmd = [mblk, "serve", "ram:?size=1M", "--fd", str(fd)]
        pf = (fd,)
    else:
        # LISTEN_PID must be the server's own pid: set it just before exec.
        os.dup2(fd, 3)
        os.set_inheritable(3, True)
        cmd = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve "ram:?size=1M"', mblk]
        pf = (3,)
    p = subprocess.Popen(cmd, pass_fds=pf, stdout=subprocess.PIPE)
    uri = p.stdout.readline().decode().strip()
    r = subprocess.run(["nbdinfo", "--size", "nbd+unix:///?socket=" + path],
                       capture_output=True, text=True, timeout=20)
    p.terminate()
    rc = p.wait(10)
    if r.stdout.strip() != "1048576" or rc != 0:
        print(mode, "failed:", uri, r.stdout, r.stderr, rc)
        sys.exit(1)
PY

# Graceful shutdown: a write in flight when SIGTERM arrives completes and
# is acknowledged, and the exit status is 0.
truncate -s 1M "$T/slow.raw"
serve slow "fault:?inner=file:$T/slow.raw&delay=write&delay-us=500000"
qemu-io -f raw -c 'write -P 0x42 0 4k' "$URI" >"$T/w.out" 2>&1 &
qpid=$!
sleep 0.2
kill -TERM "$SPID"
wait "$qpid" || fail "the write in flight at SIGTERM failed: $(cat "$T/w.out")"
wait "$SPID"
check "exit status after SIGTERM" "$?" 0
check "the write reached the file" "$(od -An -tx1 -N 2 "$T/slow.raw" | tr -d ' ')" "4242"

# Usage errors are one sentence and status 2.
"$MBLK" serve 2>"$T/err"
check "no URI: status" "$?" 2
grep -q "^mblk serve: no device URI given" "$T/err" || fail "no URI: $(cat "$T/err")"
"$MBLK" serve 'ram:?size=1M' 'ram:?size=1M' --unix "$T/x" 2>"$T/err"
check "two default exports: status" "$?" 2
"$MBLK" serve 'ram:?size=1M' --tcp nonsense 2>"$T/err"
check "bad --tcp: status" "$?" 2
finish
