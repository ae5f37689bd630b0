# migrate_lib.py - helpers for the migration tests (tests/migrate): a
# `mblk serve --mirror-to` in a private directory, a control-socket
# client (JSON lines, parsed with python's json module), seeded images
# and a model of what a client wrote.
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

FAILS = []


def skip(msg):
    print("SKIP: " + msg)
    if os.environ.get("CI") == "true":
        print("(a missing peer is a failure under CI=true)")
        sys.exit(1)
    sys.exit(77)


def check(name, got, want):
    if got != want:
        FAILS.append(name)
        print("FAIL: %s: got %r, expected %r" % (name, got, want))
        return False
    return True


def ok(name, cond, detail=""):
    if not cond:
        FAILS.append(name)
        print("FAIL: %s %s" % (name, detail))
    return cond


def finish():
    if FAILS:
        print("%d checks failed: %s" % (len(FAILS), ", ".join(FAILS)))
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def need_nbd():
    try:
        import nbd  # noqa: F401
    except ImportError:
        skip("the python3 nbd module (python3-libnbd) is not installed")


def make_image(path, size, data_fraction, seed, chunk=64 * 1024):
    """A sparse image of size bytes with data_fraction of its chunks
    random data; returns its contents as a bytearray (the model)."""
    rng = random.Random(seed)
    model = bytearray(size)
    with open(path, "wb") as f:
        f.truncate(size)
        for off in range(0, size, chunk):
            if rng.random() < data_fraction:
                b = rng.randbytes(chunk)
                f.seek(off)
                f.write(b)
                model[off:off + chunk] = b
    return model


class Server:
    """mblk serve SRC --mirror-to DST ... with --unix and --control in a
    private directory."""

    def __init__(self, mblk, args, dir=None, control=True, wait_uri=True):
        self.dir = dir or tempfile.mkdtemp(prefix="mblk-migrate-test-")
        self.sock = os.path.join(self.dir, "nbd.sock")
        self.ctl = os.path.join(self.dir, "ctl.sock") if control else None
        self.logpath = os.path.join(self.dir, "serve.log")
        self.log = open(self.logpath, "w+")
        cmd = [os.path.abspath(mblk), "serve"] + list(args) + ["--unix", self.sock]
        if control:
            cmd += ["--control", self.ctl]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=self.log, cwd=self.dir)
        self.uri = None
        if wait_uri:
            self.uri = self.proc.stdout.readline().decode().strip()
            if not self.uri:
                raise RuntimeError("mblk serve did not start: " +
                                   self.logtext())
            if control:
                for _ in range(100):
                    if os.path.exists(self.ctl):
                        break
                    time.sleep(0.02)

    def path(self, name):
        return os.path.join(self.dir, name)

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def alive(self):
        return self.proc.poll() is None

    def open_fds(self):
        """The files the server has open (readlink of /proc/PID/fd)."""
        out = []
        d = "/proc/%d/fd" % self.proc.pid
        for fd in os.listdir(d):
            try:
                out.append(os.readlink(os.path.join(d, fd)))
            except OSError:
                pass
        return out

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self):
        if self.alive():
            self.proc.terminate()
        return self.wait(20)

    def cleanup(self):
        self.stop()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Control:
    """One connection to the control socket."""

    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        self.events = []

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("the control socket was closed")
            self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return json.loads(l)

    def send_raw(self, data):
        self.s.sendall(data)

    def reply(self):
        """The next line that is not an event (events are kept)."""
        while True:
            j = self.line()
            if "event" in j:
                self.events.append(j)
                continue
            return j

    def cmd(self, cmd, **args):
        req = dict(args)
        req["cmd"] = cmd
        self.send_raw((json.dumps(req) + "\n").encode())
        return self.reply()

    def status(self):
        r = self.cmd("status")
        assert r["ok"], r
        return r["result"]

    def mirror_state(self):
        return self.status()["mirror"]["state"]

    def wait_state(self, states, timeout=60):
        if isinstance(states, str):
            states = (states,)
        end = time.time() + timeout
        while time.time() < end:
            st = self.mirror_state()
            if st in states:
                return st
            time.sleep(0.05)
        return self.mirror_state()

    def close(self):
        self.s.close()


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def first_difference(a, b):
    if len(a) != len(b):
        return "sizes differ: %d vs %d" % (len(a), len(b))
    for off in range(0, len(a), 4096):
        if a[off:off + 4096] != b[off:off + 4096]:
            return "first difference in the 4 KiB block at byte %d" % off
    return None
