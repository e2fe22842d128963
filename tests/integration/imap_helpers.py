"""Shared by the mc-imapd integration tests: a tenant with users (from
smtp_helpers), mail delivered through the real mc-smtpd, imaplib
clients on IMAP (STARTTLS) and IMAPS, a raw socket client for exact
protocol checks, and the rule that every mc-imapd a test started stops
cleanly with no sanitizer report."""
import email.utils
import imaplib
import socket
import ssl
import time

import pytest

from smtp_helpers import Tenant, tls_context, wait_until  # noqa: F401

_started = []


def start_imapd(daemon, **env):
    """mc-imapd with extra MAILCORE_* settings, once it is ready."""
    d = daemon("mc-imapd", env=env or None)
    _started.append(d)
    return d


@pytest.fixture(autouse=True)
def imapd_exits_cleanly(daemon):
    """After each test, every mc-imapd it started stops with status 0 and
    has logged no sanitizer report (CI also runs under ASan)."""
    _started.clear()
    yield
    try:
        for d in _started:
            rc, out = d.stop(), d.output()
            assert "Sanitizer" not in out and "runtime error:" not in out, out[-5000:]
            assert rc == 0, (rc, out[-3000:])
    finally:
        _started.clear()


@pytest.fixture
def mail(stack, mailctl, daemon, uniq):
    """A tenant with users alice and bob, mc-smtpd and mc-imapd running,
    and a way to deliver messages to them."""
    t = Tenant(stack, mailctl, uniq)
    t.alice, t.bob = t.user("alice"), t.user("bob")
    daemon("mc-smtpd")
    t.imapd = start_imapd(daemon)
    return t


def deliver(stack, rcpt, subject="hello", body="body text\r\n", headers=(),
            sender="someone@example.org", raw=None):
    """Delivers one message through mc-smtpd; returns the bytes sent."""
    import smtplib
    if raw is None:
        lines = [f"From: Someone <{sender}>", f"To: <{rcpt}>",
                 f"Subject: {subject}",
                 f"Date: {email.utils.formatdate(localtime=False)}",
                 f"Message-ID: <{time.time_ns()}.{abs(hash(subject))}@example.org>",
                 *headers, "", body]
        raw = "\r\n".join(lines).encode()
    with smtplib.SMTP("127.0.0.1", stack.port("smtp"), timeout=15) as s:
        s.ehlo("client.example")
        s.sendmail(sender, [rcpt], raw)
    return raw


def imap(stack, tenant, user, tls=False, starttls=False):
    """A logged-in imaplib client."""
    if tls:
        c = imaplib.IMAP4_SSL("127.0.0.1", stack.port("imaps"),
                              ssl_context=tls_context(stack, check_hostname=False),
                              timeout=15)
    else:
        c = imaplib.IMAP4("127.0.0.1", stack.port("imap"), timeout=15)
        if starttls:
            c.starttls(ssl_context=tls_context(stack, check_hostname=False))
    typ, _ = c.login(user, tenant.passwords[user])
    assert typ == "OK"
    return c


class Raw:
    """A line-level IMAP client over a plain socket: send commands and
    read responses exactly as the server wrote them."""

    def __init__(self, stack, port="imap"):
        self.sock = socket.create_connection(("127.0.0.1", stack.port(port)), timeout=15)
        if port == "imaps":
            self.sock = tls_context(stack, check_hostname=False).wrap_socket(self.sock)
        self.f = self.sock.makefile("rb")
        self.greeting = self.f.readline()
        self.n = 0

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        return self.f.readline()

    def command(self, text):
        """Sends "tag text"; returns (lines before the tagged one, tagged)."""
        self.n += 1
        tag = f"a{self.n}"
        self.send(f"{tag} {text}\r\n")
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            line = self.f.readline()
            assert line, f"connection closed; got {lines}"
            if line.startswith(tag.encode() + b" "):
                return lines, line
            lines.append(line)

    def login(self, user, password):
        _, tagged = self.command(f'LOGIN "{user}" "{password}"')
        assert b" OK " in tagged, tagged

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class stopped:
    """Context manager: PostgreSQL ("pg") or Redis ("redis") is stopped
    inside, and the stack restored after (same ports and passwords)."""

    def __init__(self, stack, which):
        self.stack, self.which = stack, which

    def __enter__(self):
        import os
        import signal
        from test_smtpd_outage import stop
        if self.which == "pg":
            stop(os.path.join(self.stack.state, "pg", "data", "postmaster.pid"),
                 signal.SIGINT)
        else:
            stop(os.path.join(self.stack.state, "redis", "redis.pid"), signal.SIGTERM)
        return self

    def __exit__(self, *exc):
        from test_smtpd_outage import restore
        restore(self.stack)
        return False
