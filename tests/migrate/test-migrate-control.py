#!/usr/bin/python3
# test-migrate-control.py - the control socket of `mblk serve --control`:
# every command and every error case, with real NBD clients (libnbd's
# python binding) on the export throughout.
#
#   A0 --dst-cache direct: the copy writes whole extents, unless O_DIRECT
#      was refused and DST opened buffered (then page by page, as in A)
#   A  manual pivot: the socket's mode, status (a buffered DST copied page
#      by page), a pivot refused before
#      sync, malformed JSON, a non-object, a missing or unknown command,
#      ids echoed, set-rate's bad values, a second controller, a line too
#      long, add-export / remove-export (with a client on it), a
#      controller that disconnects mid-command, waiting for sync, the
#      pivot and its events, a second pivot, cancel after it, mblk ctl's
#      exit statuses, quit
#   B  cancel: the export goes on serving the source; retry copies it
#      all again, and the pivot then works
#   C  a destination failing mid-copy: the failure is an event and a
#      status field, and the export goes on serving the source
#   E  quit in the middle of a copy at 4 KiB/s: the server exits at once
#      (not when the rate limit's delay is over), saying the copy is
#      abandoned, with every write on the source
#   D  a destination whose flushes hang (delayed 4 s) and --pivot-timeout
#      1: the pivot fails with ETIMEDOUT after about a second, the export
#      is still in sync and serving, every write on both images
#
# Usage: test-migrate-control.py PATH-TO-MBLK
import contextlib
import os
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migrate_lib as L  # noqa: E402

L.need_nbd()
import nbd  # noqa: E402

MBLK = os.path.abspath(sys.argv[1])
SIZE = 32 << 20
check, ok = L.check, L.ok


def err_of(r):
    return (r.get("ok"), r.get("errno"))


def ctl_cli(srv, *args):
    p = subprocess.run([MBLK, "ctl", srv.ctl] + list(args),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def new_server(args, data_seed=1, dst=False):
    """mblk serve src.img ARGS in a new directory (its cwd), src.img
    holding 25 % seeded data; with dst, an empty dst.img of the same size
    beside it (for a destination URI that names it)."""
    import tempfile
    d = tempfile.mkdtemp(prefix="mblk-migrate-ctl-")
    model = L.make_image(os.path.join(d, "src.img"), SIZE, 0.25, data_seed)
    if dst:
        with open(os.path.join(d, "dst.img"), "wb") as f:
            f.truncate(SIZE)
    return L.Server(MBLK, ["src.img"] + args, dir=d), model


@contextlib.contextmanager
def scenario(args, data_seed=1, dst=False):
    """new_server for one scenario: yields (srv, model); at the end its
    log is printed if a check failed, and it is cleaned up."""
    srv, model = new_server(args, data_seed, dst)
    try:
        yield srv, model
    finally:
        if L.FAILS:
            print(srv.logtext())
        srv.cleanup()


# ------------------------------------------------------------------ 0
# --control on a path that is not a socket: refused, the file untouched.
d0 = __import__("tempfile").mkdtemp(prefix="mblk-migrate-ctl-")
notsock = os.path.join(d0, "precious")
with open(notsock, "w") as f:
    f.write("keep me")
with open(os.path.join(d0, "src.img"), "wb") as f:
    f.truncate(1 << 20)
p = subprocess.run([MBLK, "serve", os.path.join(d0, "src.img"), "--mirror-to",
                    os.path.join(d0, "dst.img"), "--unix",
                    os.path.join(d0, "s.sock"), "--control", notsock],
                   capture_output=True, text=True, timeout=60)
check("--control on a regular file exits 1", p.returncode, 1)
ok("... saying why", "not a socket" in p.stderr, p.stderr)
check("... and leaves the file alone", L.read_file(notsock), b"keep me")
__import__("shutil").rmtree(d0, ignore_errors=True)

# ------------------------------------------------------------------ A0
# --dst-cache direct: DST is written with O_DIRECT and copied in whole
# extents; where O_DIRECT is refused it is opened buffered (with a note),
# and then copied page by page.
with scenario(["--mirror-to", "dst.img", "--pivot=manual", "--rate", "1M",
               "--dst-cache", "direct"]) as (srv, model):
    dev = L.Control(srv.ctl).status()["exports"][0]["device"]
    direct = "dst.img?buffered=0" in dev
    ok("--dst-cache direct: dst.img opened one way or the other",
       direct or "dst.img?buffered=1" in dev, dev)
    check("--dst-cache direct: pieces only when opened buffered",
          "&copy-write=" in dev, not direct)

# ------------------------------------------------------------------ A
with scenario(["--mirror-to", "dst.img", "--pivot=manual",
               "--rate", "1M"]) as (srv, model):
    mode = stat.S_IMODE(os.stat(srv.ctl).st_mode)
    check("control socket mode", oct(mode), oct(0o600))
    c = L.Control(srv.ctl)
    st = c.status()
    check("status: one export, the default", [e["name"]
                                               for e in st["exports"]], [""])
    check("status: the export is the migration's",
          st["exports"][0]["migration"], True)
    m = st["mirror"]
    check("status: copying", m["state"], "copying")
    check("status: pivot mode", m["pivot"], "manual")
    check("status: size", m["bytes_total"], SIZE)
    check("status: rate limit", m["rate_limit_bytes_per_s"], 1 << 20)
    check("status: background mode by default", m["mode"], "background")
    # A DST opened through the page cache is copied a page at a time
    # (docs/migration.md): the mirror's URI says so.
    page = "&copy-write=%d" % os.sysconf("SC_PAGESIZE")
    dev = st["exports"][0]["device"]
    ok("status: dst.img opened buffered", "dst.img?buffered=1" in dev, dev)
    ok("status: ... and copied page by page", page in dev, dev)
    ok("status: bytes left", m["bytes_remaining"] > 0, str(m))

    r = c.cmd("pivot")
    check("pivot before sync is refused", err_of(r), (False, "EBUSY"))
    ok("pivot before sync says why", "sync" in r.get("error", ""), str(r))

    h = nbd.NBD()
    h.connect_uri(srv.uri)
    h.pwrite(b"A" * 4096, 0)
    check("the export serves while copying", h.pread(4096, 0), b"A" * 4096)
    model[0:4096] = b"A" * 4096

    c.send_raw(b'{"cmd":\n')
    r = c.reply()
    check("malformed JSON", err_of(r), (False, "EINVAL"))
    ok("malformed JSON says so", "malformed JSON" in r.get("error", ""),
       str(r))
    check("the connection goes on after malformed JSON",
          c.cmd("status")["ok"], True)
    c.send_raw(b"[1,2]\n")
    check("a JSON array", err_of(c.reply()), (False, "EINVAL"))
    c.send_raw(b'{"nocmd":1}\n')
    check("no cmd", err_of(c.reply()), (False, "EINVAL"))
    c.send_raw(b'{"cmd":7}\n')
    check("cmd not a string", err_of(c.reply()), (False, "EINVAL"))
    r = c.cmd("frobnicate")
    check("unknown command", err_of(r), (False, "EINVAL"))
    ok("unknown command named", "frobnicate" in r.get("error", ""), str(r))
    c.send_raw(b'{"cmd":"status","id":42}\n')
    check("the id is echoed", c.reply().get("id"), 42)
    c.send_raw(b'\n\n{"cmd":"status","id":"x"}\r\n')
    check("blank lines and CRLF", c.reply().get("id"), "x")
    check("set-rate without rate", err_of(c.cmd("set-rate")),
          (False, "EINVAL"))
    check("set-rate 'fast'", err_of(c.cmd("set-rate", rate="fast")),
          (False, "EINVAL"))
    check("set-rate -1", err_of(c.cmd("set-rate", rate=-1)),
          (False, "EINVAL"))
    r = c.cmd("set-rate", rate="2M")
    check("set-rate 2M", (r["ok"], r["result"]["rate_limit_bytes_per_s"]),
          (True, 2 << 20))
    # The copy's share: 1-100, a whole number, shown by status.
    check("status: share 50 by default",
          c.cmd("status")["result"]["mirror"]["copy_share_percent"], 50)
    for bad in (None, 0, 101, "40", 40.5, -3):
        r = c.cmd("set-share") if bad is None else c.cmd("set-share",
                                                          share=bad)
        check("set-share %r" % (bad,), err_of(r), (False, "EINVAL"))
        ok("set-share %r says what it wants" % (bad,),
           "1 to 100" in r.get("error", ""), str(r))
    r = c.cmd("set-share", share=40)
    check("set-share 40", (r["ok"], r["result"]["copy_share_percent"]),
          (True, 40))
    check("status: share 40 (set)",
          c.cmd("status")["result"]["mirror"]["copy_share_percent"], 40)

    # Two controllers at once, each with its own replies; up to 8.
    c2 = L.Control(srv.ctl)
    c2.send_raw(b'{"cmd":"status","id":"two"}\n')
    c.send_raw(b'{"cmd":"status","id":"one"}\n')
    check("controller 1's reply", c.reply().get("id"), "one")
    check("controller 2's reply", c2.reply().get("id"), "two")
    more = [L.Control(srv.ctl) for _ in range(6)]
    for x in more:
        check("controllers 3-8", x.cmd("status")["ok"], True)
    c9 = L.Control(srv.ctl)
    check("a ninth controller is refused", err_of(c9.line()),
          (False, "EBUSY"))
    try:
        c9.line()
        ok("the ninth controller is closed", False)
    except (EOFError, ConnectionResetError):
        pass
    c9.close()
    for x in more:
        x.close()
    check("the first controller goes on", c.cmd("status")["ok"], True)

    # add-export and remove-export.
    r = c.cmd("add-export", name="extra", uri="ram:?size=1M",
              description="scratch")
    check("add-export", r["ok"], True)
    names = sorted(e["name"] for e in c.status()["exports"])
    check("status lists the new export", names, ["", "extra"])
    h2 = nbd.NBD()
    h2.set_export_name("extra")
    h2.connect_unix(srv.sock)
    check("the new export's size", h2.get_size(), 1 << 20)
    h2.pwrite(b"e" * 512, 512)
    check("the new export serves", h2.pread(512, 512), b"e" * 512)
    check("add-export of a name in use",
          err_of(c.cmd("add-export", name="extra", uri="ram:?size=1M")),
          (False, "EEXIST"))
    r = c.cmd("add-export", name="bad", uri="nosuch:thing")
    check("add-export of a bad URI", r["ok"], False)
    ok("add-export of a bad URI names it", "nosuch:thing" in r["error"],
       str(r))
    check("add-export without uri", err_of(c.cmd("add-export", name="x")),
          (False, "EINVAL"))
    check("remove-export of the migration's export",
          err_of(c.cmd("remove-export", name="")), (False, "EBUSY"))
    check("remove-export of no such export",
          err_of(c.cmd("remove-export", name="nope")), (False, "ENOENT"))
    check("remove-export with a client on it",
          c.cmd("remove-export", name="extra")["ok"], True)
    try:
        h2.pread(512, 512)
        ok("the removed export's client is dropped", False)
    except nbd.Error:
        pass
    names = sorted(e["name"] for e in c.status()["exports"])
    check("status after remove-export", names, [""])
    check("the migration's client is still connected", h.pread(4096, 0),
          b"A" * 4096)

    # A line too long: an error, then that controller is closed.
    c3 = L.Control(srv.ctl)
    c3.send_raw(b'{"cmd":"status","pad":"' + b"x" * (70 * 1024))
    r = c3.reply()  # events may come first
    check("a line too long", err_of(r), (False, "EINVAL"))
    c3.close()
    check("the others go on", c.cmd("status")["ok"], True)
    c.close()

    # A controller that disconnects mid-command: the command finishes.
    c = L.Control(srv.ctl)
    c.send_raw(b'{"cmd":"add-export","name":"late","uri":"ram:?size=64K"}\n')
    c.close()
    c = L.Control(srv.ctl)
    for _ in range(100):
        names = sorted(e["name"] for e in c.status()["exports"])
        if "late" in names:
            break
        time.sleep(0.02)
    check("a command whose controller left still finishes", names,
          ["", "late"])
    c.send_raw(b'{"cmd":"sta')  # half a line, then gone
    c.close()
    c = L.Control(srv.ctl)
    check("a half line then a disconnect", c.cmd("status")["ok"], True)

    # mblk ctl, with a python controller connected too.
    rc, out, errs = ctl_cli(srv, "status")
    check("mblk ctl status", rc, 0)
    ok("mblk ctl status prints the mirror", "mirror:" in out, out)
    rc, out, errs = ctl_cli(srv, "pivot")
    check("mblk ctl pivot before sync exits 1", rc, 1)
    ok("... with the sentence", "sync" in errs, errs)
    rc, out, errs = ctl_cli(srv, "bogus")
    check("mblk ctl with an unknown command exits 2", rc, 2)
    rc, out, errs = ctl_cli(srv, "set-rate")
    check("mblk ctl set-rate without a rate exits 2", rc, 2)
    rc, out, errs = ctl_cli(srv, "set-share", "101")
    check("mblk ctl set-share 101 exits 2", rc, 2)
    rc, out, errs = ctl_cli(srv, "set-share", "100")
    check("mblk ctl set-share 100", rc, 0)
    rc, out, errs = ctl_cli(srv, "send", '{"cmd":"status"}', "--json")
    check("mblk ctl send", rc, 0)
    ok("mblk ctl send prints the reply", '"ok":true' in out, out)

    # mblk ctl events prints the event lines until the server stops.
    watcher = subprocess.Popen([MBLK, "ctl", srv.ctl, "events"],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)

    # Sync, then pivot.
    check("set-rate 0", c.cmd("set-rate", rate=0)["ok"], True)
    check("in sync", c.wait_state("in-sync", 60), "in-sync")
    # Both controllers ask for the pivot at once: one does it.
    c2.send_raw(b'{"cmd":"pivot","id":2}\n')
    c.send_raw(b'{"cmd":"pivot","id":1}\n')
    r, r2 = c.reply(), c2.reply()
    check("one of two pivots at once is refused",
          sorted([r["ok"], r2["ok"]]), [False, True])
    refused = r2 if r["ok"] else r
    check("... with EALREADY", refused.get("errno"), "EALREADY")
    if not r["ok"]:
        r = r2
    check("pivot", (r["ok"], r.get("id") in (1, 2)), (True, True))
    ok("pivot reports its time", r["result"]["pivot_ms"] >= 0, str(r))
    check("state after pivot", c.mirror_state(), "pivoted")
    time.sleep(0.5)
    c.cmd("status")
    c2.cmd("status")
    for x in (c, c2):
        evs = [e["event"] for e in x.events]
        ok("the in-sync event came", "in-sync" in evs, str(evs))
        ok("the pivoted event came", "pivoted" in evs, str(evs))
    c2.close()
    check("a second pivot", err_of(c.cmd("pivot")), (False, "EALREADY"))
    check("cancel after the pivot", err_of(c.cmd("cancel")),
          (False, "EALREADY"))
    check("the client reads DST after the pivot", h.pread(4096, 0),
          b"A" * 4096)
    h.pwrite(b"B" * 4096, 8192)
    model[8192:12288] = b"B" * 4096
    h.flush()
    check("src.img closed after the pivot",
          any(p.endswith("/src.img") for p in srv.open_fds()), False)
    h.shutdown()
    check("quit", c.cmd("quit")["ok"], True)
    check("exit status after quit", srv.wait(30), 0)
    wout, _ = watcher.communicate(timeout=30)
    check("mblk ctl events exits 0 when the server stops",
          watcher.returncode, 0)
    ok("mblk ctl events printed in-sync and pivoted",
       '"event":"in-sync"' in wout and '"event":"pivoted"' in wout, wout)
    check("the control socket is removed", os.path.exists(srv.ctl), False)
    diff = L.first_difference(L.read_file(srv.path("dst.img")),
                              bytes(model))
    ok("dst.img equals what was written", diff is None, diff or "")

# ------------------------------------------------------------------ B
with scenario(["--mirror-to", "dst.img", "--pivot=manual",
               "--rate", "1M"], 2) as (srv, model):
    c = L.Control(srv.ctl)
    check("cancel", c.cmd("cancel")["ok"], True)
    check("state after cancel", c.mirror_state(), "cancelled")
    check("a second cancel", err_of(c.cmd("cancel")), (False, "EALREADY"))
    r = c.cmd("pivot")
    check("pivot after cancel", r["ok"], False)
    h = nbd.NBD()
    h.connect_uri(srv.uri)
    h.pwrite(b"C" * 4096, 4096)
    h.flush()
    check("the export serves after cancel", h.pread(4096, 4096),
          b"C" * 4096)
    h.shutdown()
    evs = [e["event"] for e in c.events]
    ok("the cancelled event came", "cancelled" in evs, str(evs))
    # retry: the copy starts again, the write made while cancelled too.
    check("retry after cancel", c.cmd("retry")["ok"], True)
    check("... copying again", c.mirror_state(), "copying")
    check("a second retry", err_of(c.cmd("retry")), (False, "EALREADY"))
    check("set-rate 0", c.cmd("set-rate", rate=0)["ok"], True)
    check("in sync after the retry", c.wait_state("in-sync", 60), "in-sync")
    check("pivot after the retry", c.cmd("pivot")["ok"], True)
    check("retry after the pivot", err_of(c.cmd("retry")),
          (False, "EALREADY"))
    check("quit after cancel", c.cmd("quit")["ok"], True)
    check("exit status", srv.wait(30), 0)
    model[4096:8192] = b"C" * 4096
    diff = L.first_difference(L.read_file(srv.path("src.img")),
                              bytes(model))
    ok("after cancel the writes are on src.img", diff is None, diff or "")
    diff = L.first_difference(L.read_file(srv.path("dst.img")),
                              bytes(model))
    ok("after retry and pivot dst.img holds them", diff is None, diff or "")

# ------------------------------------------------------------------ C
with scenario([
    "--mirror-to",
    "fault:?inner=[file:dst.img]&fail=write&errno=ENOSPC&after=20",
    "--pivot=auto", "--rate", "4M"], 3, dst=True) as (srv, model):
    c = L.Control(srv.ctl)
    check("a failing destination stops the mirror",
          c.wait_state(("failed", "pivoted"), 60), "failed")
    m = c.status()["mirror"]
    ok("the failure is a status field", m["error"] and
       "injected" in m["error"], str(m))
    ok("... counted", m["copy_errors"] >= 1, str(m))
    time.sleep(0.1)
    c.cmd("status")
    evs = [e for e in c.events if e["event"] == "failed"]
    ok("the failure is an event", len(evs) == 1 and "error" in evs[0],
       str(c.events))
    r = c.cmd("pivot")
    check("no pivot onto a failed destination", r["ok"], False)
    h = nbd.NBD()
    h.connect_uri(srv.uri)
    h.pwrite(b"D" * 8192, 1 << 20)
    model[1 << 20:(1 << 20) + 8192] = b"D" * 8192
    check("the export serves the source after the failure",
          h.pread(8192, 1 << 20), b"D" * 8192)
    h.flush()
    h.shutdown()
    check("quit after the failure", c.cmd("quit")["ok"], True)
    check("exit status", srv.wait(30), 0)
    diff = L.first_difference(L.read_file(srv.path("src.img")),
                              bytes(model))
    ok("src.img holds every write", diff is None, diff or "")

# ------------------------------------------------------------------ D
with scenario([
    "--mirror-to", "fault:?inner=[file:dst.img]&delay=flush&delay-us=4000000",
    "--pivot=manual", "--pivot-timeout", "1"], 4, dst=True) as (srv, model):
    c = L.Control(srv.ctl)
    check("in sync (after a 4 s flush)", c.wait_state("in-sync", 60),
          "in-sync")
    h = nbd.NBD()
    h.connect_uri(srv.uri)
    t0 = time.time()
    r = c.cmd("pivot")
    took = time.time() - t0
    check("a pivot onto a hanging destination fails", err_of(r),
          (False, "ETIMEDOUT"))
    ok("... after the timeout, not the flush (%.2f s)" % took,
       0.9 <= took < 3.0, str(r))
    ok("... with a sentence", "pivot timeout of 1000 ms" in r["error"]
       and "goes on serving" in r["error"], r["error"])
    check("still in sync", c.mirror_state(), "in-sync")
    h.pwrite(b"E" * 4096, 8192)
    model[8192:12288] = b"E" * 4096
    check("the export serves after the timeout", h.pread(4096, 8192),
          b"E" * 4096)
    h.shutdown()
    time.sleep(0.1)
    c.cmd("status")
    evs = [e["event"] for e in c.events]
    ok("the pivot-failed event came", "pivot-failed" in evs, str(evs))
    check("quit", c.cmd("quit")["ok"], True)
    check("exit status", srv.wait(30), 0)
    for img in ("src.img", "dst.img"):
        diff = L.first_difference(L.read_file(srv.path(img)), bytes(model))
        ok("%s holds every write (still mirroring)" % img, diff is None,
           diff or "")

# ------------------------------------------------------------------ E
with scenario(["--mirror-to", "dst.img", "--pivot=auto",
               "--rate", "4K"], 5) as (srv, model):
    c = L.Control(srv.ctl)
    time.sleep(0.3)  # the first copy operation: 256 s of the limit's debt
    check("copying", c.mirror_state(), "copying")
    h = nbd.NBD()
    h.connect_uri(srv.uri)
    h.pwrite(b"F" * 4096, 3 << 20)
    model[3 << 20:(3 << 20) + 4096] = b"F" * 4096
    h.flush()
    h.shutdown()
    t0 = time.time()
    check("quit while copying", c.cmd("quit")["ok"], True)
    check("exit status", srv.wait(10), 0)
    took = time.time() - t0
    ok("... at once, not when the rate allows (%.2f s)" % took, took < 3.0)
    ok("... saying the copy is abandoned", "copy is abandoned" in
       srv.logtext(), srv.logtext())
    diff = L.first_difference(L.read_file(srv.path("src.img")),
                              bytes(model))
    ok("src.img holds every write", diff is None, diff or "")
# ------------------------------------------------------------------ F
# --mirror-mode active: active from the start; a write ahead of the copy
# (held to its first operation by the rate) and one behind it both end
# up on dst.img after the pivot.
with scenario(["--mirror-to", "dst.img", "--pivot=auto", "--mirror-mode",
               "active", "--rate", "4K"], 6) as (srv, model):
    c = L.Control(srv.ctl)
    check("active from the start", c.status()["mirror"]["mode"], "active")
    time.sleep(0.3)  # the first copy operation: 256 s of the limit's debt
    h = nbd.NBD()
    h.connect_uri(srv.uri)
    for off, ch in ((SIZE - 8192, b"G"), (4096, b"H")):
        h.pwrite(ch * 4096, off)
        model[off:off + 4096] = ch * 4096
    check("set-rate 0", c.cmd("set-rate", rate=0)["ok"], True)
    check("pivots", c.wait_state(("pivoted", "failed"), 60), "pivoted")
    check("the client reads its writes after the pivot",
          h.pread(4096, SIZE - 8192) + h.pread(4096, 4096),
          b"G" * 4096 + b"H" * 4096)
    h.shutdown()
    check("quit", c.cmd("quit")["ok"], True)
    check("exit status", srv.wait(30), 0)
    diff = L.first_difference(L.read_file(srv.path("dst.img")), bytes(model))
    ok("dst.img holds every write", diff is None, diff or "")
p = subprocess.run([MBLK, "serve", "ram:?size=1M", "--mirror-to",
                    "ram:?size=1M", "--mirror-mode", "fast"],
                   capture_output=True, text=True, timeout=30)
check("--mirror-mode fast is refused", p.returncode, 2)
ok("... naming the choices", "background or active" in p.stderr, p.stderr)
L.finish()
