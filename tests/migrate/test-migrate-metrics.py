#!/usr/bin/python3
# test-migrate-metrics.py - `mblk serve --metrics`: Prometheus text scraped
# with curl while a client does I/O through the export during a
# migration; the counters must match exactly what the client did, the
# histogram must be consistent, `promtool check metrics` must accept the
# text, and the listener must be bound to 127.0.0.1 when no host is
# given.
#
# Usage: test-migrate-metrics.py PATH-TO-MBLK
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migrate_lib as L  # noqa: E402

L.need_nbd()
import nbd  # noqa: E402

if not shutil.which("curl"):
    L.skip("curl is not installed (scripts/deps.sh installs it)")
MBLK = os.path.abspath(sys.argv[1])
SIZE = 32 << 20
check, ok = L.check, L.ok


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def scrape(port, path="/metrics"):
    p = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}",
                        "http://127.0.0.1:%d%s" % (port, path)],
                       capture_output=True, text=True, timeout=30)
    body, _, code = p.stdout.rpartition("\n")
    return int(code or 0), body


def parse(text):
    """{(name, frozenset(labels)): value}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            ok("a metrics line parses", False, repr(line))
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"',
                                      m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def get(mx, name, **labels):
    return mx.get((name, frozenset(labels.items())))


d = tempfile.mkdtemp(prefix="mblk-migrate-metrics-")
L.make_image(os.path.join(d, "src.img"), SIZE, 0.25, 5)
port = free_port()
srv = L.Server(MBLK, ["src.img", "--mirror-to", "dst.img", "--pivot=manual",
                      "--rate", "1M", "--metrics", str(port)], dir=d)
try:
    # Bound to 127.0.0.1 (0100007F in /proc/net/tcp), not every address.
    with open("/proc/net/tcp") as f:
        lines = [l.split() for l in f.readlines()[1:]]
    local = [l[1] for l in lines if l[3] == "0A" and
             l[1].endswith(":%04X" % port)]
    check("the metrics listen on 127.0.0.1 only", local,
          ["0100007F:%04X" % port])

    h = nbd.NBD()
    h.connect_uri(srv.uri)
    W, R, F, Z = 300, 120, 7, 5
    scrapes = []
    stop = threading.Event()

    def scraper():
        while not stop.is_set():
            scrapes.append(scrape(port))

    t = threading.Thread(target=scraper)
    t.start()
    for i in range(W):
        h.pwrite(bytes([i & 255]) * 4096, (i * 4096 * 7) % (SIZE - 4096))
        if i % 3 == 0 and i // 3 < R:
            h.pread(8192, (i * 8192) % (SIZE - 8192))
    for i in range(W // 3, R):
        h.pread(8192, i * 8192)
    for _ in range(F):
        h.flush()
    for i in range(Z):
        h.zero(65536, i * 65536)
    stop.set()
    t.join()
    ok("scrapes while I/O ran", len(scrapes) >= 2, str(len(scrapes)))
    prev = None
    for code, body in scrapes:
        check("a scrape during I/O", code, 200)
        w = get(parse(body), "mblk_export_requests_total", export="",
                op="write")
        if prev is not None and w is not None:
            ok("the write counter never goes back", w >= prev,
               "%s < %s" % (w, prev))
        prev = w if w is not None else prev

    code, text = scrape(port)
    check("the scrape after the I/O", code, 200)
    mx = parse(text)

    def op(name, o):
        return get(mx, name, export="", op=o)

    check("writes", op("mblk_export_requests_total", "write"), W)
    check("bytes written", op("mblk_export_bytes_total", "write"),
          W * 4096)
    check("reads", op("mblk_export_requests_total", "read"), R)
    check("bytes read", op("mblk_export_bytes_total", "read"), R * 8192)
    check("flushes", op("mblk_export_requests_total", "flush"), F)
    check("zeroes", op("mblk_export_requests_total", "write_zeroes"), Z)
    check("bytes zeroed", op("mblk_export_bytes_total", "write_zeroes"),
          Z * 65536)
    check("trims", op("mblk_export_requests_total", "trim"), 0)
    check("write errors", op("mblk_export_errors_total", "write"), 0)
    check("write latency count",
          op("mblk_export_request_duration_seconds_count", "write"), W)
    check("write latency +Inf bucket",
          get(mx, "mblk_export_request_duration_seconds_bucket", export="",
              op="write", le="+Inf"), W)
    buckets = sorted(
        (float(dict(k[1])["le"]), v) for k, v in mx.items()
        if k[0] == "mblk_export_request_duration_seconds_bucket" and
        dict(k[1]).get("op") == "write" and dict(k[1])["le"] != "+Inf")
    ok("the histogram is cumulative",
       all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])),
       str(buckets))
    ok("write latency sum > 0",
       op("mblk_export_request_duration_seconds_sum", "write") > 0)
    check("connections", get(mx, "mblk_export_connections", export=""), 1)
    check("server connections", get(mx, "mblk_server_connections"), 1)
    check("in flight", get(mx, "mblk_export_requests_in_flight",
                           export=""), 0)
    check("mirror size", get(mx, "mblk_mirror_size_bytes"), SIZE)
    check("mirror state copying", get(mx, "mblk_mirror_state",
                                      state="copying"), 1)
    ok("mirror bytes left", get(mx, "mblk_mirror_remaining_bytes") > 0)
    check("mirror rate limit",
          get(mx, "mblk_mirror_rate_limit_bytes_per_second"), 1 << 20)
    check("mirror mode", get(mx, "mblk_mirror_mode", mode="background") +
          get(mx, "mblk_mirror_mode", mode="active"), 1)

    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=60)
        check("promtool check metrics", (p.returncode, p.stdout + p.stderr),
              (0, ""))
    else:
        L.skip("promtool (Debian's prometheus package) is not installed")

    check("another path is 404", scrape(port, "/other")[0], 404)

    # Pivot; the state follows.
    c = L.Control(srv.ctl)
    c.cmd("set-rate", rate=0)
    check("in sync", c.wait_state("in-sync", 60), "in-sync")
    check("pivot", c.cmd("pivot")["ok"], True)
    mx = parse(scrape(port)[1])
    check("mirror state pivoted", get(mx, "mblk_mirror_state",
                                      state="pivoted"), 1)
    ok("pivot seconds", get(mx, "mblk_mirror_pivot_seconds") is not None)
    h.shutdown()
    c.cmd("quit")
    check("exit status", srv.wait(30), 0)
finally:
    if L.FAILS:
        print(srv.logtext())
    srv.cleanup()
L.finish()
