"""Fixtures for the integration tests: the real dev stack (PostgreSQL and
Redis started by ops/stack.sh in a temporary state directory, or the one
ops/test.sh already started), mailctl, and real daemons started from
build/bin with their own log files."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

import ports

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OPS = os.path.join(TOP, "ops")


class Stack:
    """The running stack: where its state is and how to reach it."""

    def __init__(self, state):
        self.state = state
        self.conf = os.path.join(state, "mailcore.conf")
        self.bin = os.environ.get("MAILCORE_BIN", os.path.join(TOP, "build", "bin"))
        env = dict(line.split("=", 1) for line in
                   open(os.path.join(state, "stack.env")).read().split())
        self.pg_port = int(env["PG_PORT"])
        self.redis_port = int(env["REDIS_PORT"])
        self.offset = int(env["PORT_OFFSET"])
        self.pg_password = self.secret("pg")
        self.redis_password = self.secret("redis")
        self.ca = os.path.join(state, "tls", "ca.pem")

    def secret(self, name):
        with open(os.path.join(self.state, "secrets", name)) as f:
            return f.read().strip()

    def port(self, name):
        """The port of a frontend listener ("smtp", "imaps", ...)."""
        return ports.DEV_PORTS[name] + self.offset

    def psql(self, sql):
        """Runs sql as the mailcore role; returns the rows as lists."""
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "mailcore",
             "-d", "mailcore", "-v", "ON_ERROR_STOP=1", "-qAtF", "\t", "-c", sql],
            env=dict(os.environ, PGPASSWORD=self.pg_password),
            capture_output=True, text=True, check=True).stdout
        return [line.split("\t") for line in out.splitlines()]


def ops(*args, env=None):
    subprocess.run([os.path.join(OPS, args[0]), *args[1:]], check=True, env=env,
                   stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def stack():
    """The stack of ops/test.sh, or a private one for a plain pytest run."""
    own = "MAILCORE_STATE" not in os.environ
    if own:
        state = tempfile.mkdtemp(prefix="mailcore-it.")
        os.chmod(state, 0o755)
        pg, redis, offset = ports.free_port(), ports.free_port(), ports.free_offset()
        os.environ.update(MAILCORE_STATE=state, MAILCORE_STACK_FAST="1",
                          MAILCORE_DEV_PG_PORT=str(pg), MAILCORE_DEV_REDIS_PORT=str(redis),
                          MAILCORE_DEV_PORT_OFFSET=str(offset))
    state = os.environ["MAILCORE_STATE"]
    ops("mkconfig.sh")
    ops("stack.sh", "start")
    s = Stack(state)
    subprocess.run([os.path.join(s.bin, "mailctl"), "-c", s.conf, "db", "migrate"],
                   check=True, capture_output=True)
    yield s
    if own:
        ops("stack.sh", "stop")
        shutil.rmtree(state, ignore_errors=True)
        del os.environ["MAILCORE_STATE"]


@pytest.fixture
def mailctl(stack):
    """Runs mailctl against the stack; returns the CompletedProcess."""
    def run(*args, input=None, env=None, config=None):
        return subprocess.run(
            [os.path.join(stack.bin, "mailctl"), "-c", config or stack.conf, *args],
            input=input, capture_output=True, text=True, timeout=60,
            env=dict(os.environ, **(env or {})))
    return run


@pytest.fixture
def uniq():
    """A short unique name, so tests never collide in the shared database."""
    return "t" + uuid.uuid4().hex[:10]


class Daemon:
    """One daemon process with its own log file."""

    def __init__(self, stack, name, log, env=None, config=None):
        self.name, self.log = name, log
        self.proc = subprocess.Popen(
            [os.path.join(stack.bin, name), "-c", config or stack.conf],
            stdout=open(log, "ab"), stderr=subprocess.STDOUT,
            env=dict(os.environ, **(env or {})), start_new_session=True)

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_for(self, text, timeout=15):
        """Waits until text appears in the log; fails if the daemon dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n"
                                     f"{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no {text!r} in log:\n{self.output()}")

    def stop(self, timeout=10):
        """SIGTERM, then the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def daemon(stack, tmp_path):
    """Starts daemons; every one is stopped at the end of the test."""
    started = []

    def start(name, env=None, config=None, ready=True):
        d = Daemon(stack, name, str(tmp_path / f"{name}-{len(started)}.log"),
                   env=env, config=config)
        started.append(d)
        if ready:
            d.wait_for(" ready:")
        return d
    yield start
    for d in started:
        d.stop()
