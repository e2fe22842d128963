"""Per-IP connection limits of mc-smtpd's MX port ([connections]):
concurrent connections and connections per minute (421 4.7.0), messages
per minute (451 4.7.1 at MAIL), unknown recipients that block the client
for block_time (450 4.7.1 at RCPT, 421 4.7.0 at connect) until it
expires, the pregreet delay that drops a client talking first (554 5.7.1)
while a polite one is served, and the optional reverse-DNS (450 4.7.25),
HELO (504 5.5.2) and sender-domain (450 4.1.8) checks, on and off.

Limits that apply from connect (concurrent, pregreet) run with a [filter]
trusted_networks that leaves 127.0.0.0/8 out, each test from a loopback
address of its own; the others name an outside client with XCLIENT from
loopback (each test its own address: the counters live in the shared
Redis). DNS answers come from a Debian unbound on loopback."""
import random
import smtplib
import socket
import time

import pytest

from dns_server import DnsServer
from smtp_helpers import (HELO, Tenant, connect, message, smtpd_exits_cleanly,  # noqa: F401
                          start_smtpd, wait_until)

UNTRUSTED_LOOPBACK = {"MAILCORE_FILTER_TRUSTED_NETWORKS": "::1/128"}


def outside_ip():
    """A random address near the documentation range (never contacted);
    not 198.51.100.0/24 itself, whose reverse zone libunbound answers on
    its own (NXDOMAIN, RFC 6303), so PTR records there are never seen."""
    return f"198.51.{random.randint(101, 113)}.{random.randint(1, 254)}"


def loopback_ip():
    """A random loopback address to connect from."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 254)}.{random.randint(1, 254)}"


def reverse(ip):
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa."


class Conn:
    """A raw client socket: the first line the server sends, then more."""

    def __init__(self, stack, source, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", stack.port("smtp")),
                                             timeout=timeout, source_address=(source, 0))
        self.f = self.sock.makefile("rb")

    def line(self):
        return self.f.readline()

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        while True:
            line = self.line()
            if line[3:4] != b"-":
                return line

    def closed(self):
        """True when the server has closed the connection."""
        return self.f.readline() == b""

    def close(self):
        self.f.close()
        self.sock.close()


class World:
    """A receiving tenant, a DNS server and mc-smtpd started on demand."""

    def __init__(self, stack, mailctl, daemon, uniq, tmp_path):
        self.stack, self.daemon, self.u = stack, daemon, uniq
        self.t = Tenant(stack, mailctl, uniq)
        self.rcpt = self.t.user("rita")
        self.good, self.bad, self.none = random.sample(
            [f"198.51.{random.randint(101, 113)}.{i}" for i in range(1, 255)], 3)
        self.records = [
            f"{reverse(self.good)} PTR host-{uniq}.test.",
            f"host-{uniq}.test. A {self.good}",
            f"{reverse(self.bad)} PTR liar-{uniq}.test.",
            f"liar-{uniq}.test. A 192.0.2.99",
            f"mx-{uniq}.test. MX 10 mail.mx-{uniq}.test.",
            f"mail.mx-{uniq}.test. A 192.0.2.25",
            f"a-{uniq}.test. A 192.0.2.26",
            f"null-{uniq}.test. MX 0 .",
        ]
        self.dns = DnsServer(str(tmp_path), self.records)
        self.smtpd = None

    def start(self, **env):
        base = {"MAILCORE_DNS_UPSTREAM": self.dns.upstream, "MAILCORE_DNS_TIMEOUT": "5s",
                "MAILCORE_SMTPD_XCLIENT_NETWORKS": "127.0.0.0/8",
                "MAILCORE_GREYLIST_MODE": "off"}
        base.update({f"MAILCORE_CONNECTIONS_{k.upper()}": v for k, v in env.items()
                     if not k.startswith("MAILCORE_")})
        base.update({k: v for k, v in env.items() if k.startswith("MAILCORE_")})
        self.smtpd = start_smtpd(self.daemon, **base)
        return self.smtpd

    def xclient(self, client, helo="mx.outside.example"):
        """(smtplib session, XCLIENT reply); EHLO done after a 220."""
        s = connect(self.stack)
        code, text = s.docmd("XCLIENT", f"ADDR={client}")
        if code == 220:
            s.ehlo_resp = None
            assert s.ehlo(helo)[0] == 250
        return s, (code, text)


@pytest.fixture
def world(stack, mailctl, daemon, uniq, tmp_path):
    w = World(stack, mailctl, daemon, uniq, tmp_path)
    yield w
    w.dns.stop()


def close(s):
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        pass
    s.close()


# -- at connect -------------------------------------------------------------

def test_third_concurrent_connection_is_refused(world):
    world.start(max_per_ip="2", per_minute="0", **UNTRUSTED_LOOPBACK)
    src = loopback_ip()
    a, b = Conn(world.stack, src), Conn(world.stack, src)
    assert a.line().startswith(b"220 ") and b.line().startswith(b"220 ")
    c = Conn(world.stack, src)
    line = c.line()
    assert line.startswith(b"421 4.7.0 ") and b"Too many connections from your host" in line, line
    assert c.closed()
    c.close()
    other = Conn(world.stack, loopback_ip())  # another address is not counted
    assert other.line().startswith(b"220 ")
    other.close()
    a.cmd("QUIT")
    a.close()

    def again():
        d = Conn(world.stack, src)
        ok = d.line().startswith(b"220 ")
        d.close()
        return ok
    assert wait_until(again, 5), "the closed connection was never released"
    b.close()


def test_connections_per_minute(world):
    world.start(per_minute="3")
    ip = outside_ip()
    for _ in range(3):
        s, reply = world.xclient(ip)
        assert reply[0] == 220, reply
        close(s)
    s, reply = world.xclient(ip)
    assert reply[0] == 421 and reply[1].startswith(b"4.7.0 "), reply
    assert b"Too many connections from your host" in reply[1]
    s.close()
    s, reply = world.xclient(outside_ip())
    assert reply[0] == 220, reply
    close(s)
    assert f"refused: Too many connections" in world.smtpd.output()


def test_messages_per_minute(world):
    world.start(messages_per_minute="2")
    s, reply = world.xclient(outside_ip())
    assert reply[0] == 220
    for _ in range(2):
        assert s.mail("a@example.org")[0] == 250
        assert s.rset()[0] == 250
    code, text = s.mail("a@example.org")
    assert code == 451 and text.startswith(b"4.7.1 Too many messages"), (code, text)
    close(s)


def test_unknown_recipients_block_the_client_until_block_time_ends(world):
    world.start(unknown_recipients="3", block_time="2s")
    ip = outside_ip()
    s, reply = world.xclient(ip)
    assert s.mail("a@example.org")[0] == 250
    for i in range(3):
        code, text = s.rcpt(f"nobody{i}@{world.t.domain}")
        assert code == 550 and text.startswith(b"5.1.1"), (code, text)
    code, text = s.rcpt(world.rcpt)  # a real one is refused now too
    assert code == 450 and text.startswith(b"4.7.1 ") and b"blocked" in text, (code, text)
    close(s)
    s, reply = world.xclient(ip)
    assert reply[0] == 421 and reply[1].startswith(b"4.7.0 "), reply
    assert b"temporarily blocked" in reply[1], reply
    s.close()
    s, reply = world.xclient(outside_ip())  # others are not blocked
    assert reply[0] == 220
    close(s)
    time.sleep(2.2)
    s, reply = world.xclient(ip)
    assert reply[0] == 220, reply
    assert s.mail("a@example.org")[0] == 250
    assert s.rcpt(world.rcpt)[0] == 250
    close(s)
    assert f"client {ip} blocked for 2s" in world.smtpd.output()


def test_a_client_talking_before_the_greeting_is_dropped(world):
    world.start(pregreet_delay="1s", **UNTRUSTED_LOOPBACK)
    rude = Conn(world.stack, loopback_ip())
    rude.sock.sendall(b"EHLO rude.example\r\n")
    line = rude.line()
    assert line.startswith(b"554 5.7.1 "), line
    assert rude.closed()
    rude.close()
    start = time.monotonic()
    polite = Conn(world.stack, loopback_ip())
    line = polite.line()
    assert line.startswith(b"220 ") and time.monotonic() - start >= 0.9, line
    assert polite.cmd(f"EHLO {HELO}").startswith(b"250 ")
    assert polite.cmd("MAIL FROM:<a@example.org>").startswith(b"250 ")
    assert polite.cmd(f"RCPT TO:<{world.rcpt}>").startswith(b"250 ")
    assert polite.cmd("DATA").startswith(b"354 ")
    polite.sock.sendall(message("polite").replace(b"\r\n.", b"\r\n..") + b".\r\n")
    assert polite.line().startswith(b"250 ")
    polite.cmd("QUIT")
    polite.close()
    assert "talked before the greeting" in world.smtpd.output()


def test_trusted_clients_are_greeted_at_once(world):
    world.start(pregreet_delay="2s", max_per_ip="1")
    start = time.monotonic()
    a, b = connect(world.stack), connect(world.stack)  # loopback is trusted
    assert time.monotonic() - start < 1.5
    close(a)
    close(b)


# -- the optional checks ------------------------------------------------------

@pytest.mark.parametrize("on", [True, False])
def test_helo_check(world, on):
    world.start(helo_check="yes" if on else "no")
    s, reply = world.xclient(outside_ip())
    code, text = s.docmd("EHLO", "localhost")
    if on:
        assert code == 504 and text.startswith(b"5.5.2 <localhost>"), (code, text)
        for good in ("mx.outside.example", "[192.0.2.1]", "[IPv6:2001:db8::1]"):
            assert s.docmd("EHLO", good)[0] == 250, good
        for bad in ("123.456", "1.2.3.4", "mailhost"):
            assert s.docmd("EHLO", bad)[0] == 504, bad
    else:
        assert code == 250, (code, text)
    close(s)
    t = connect(world.stack)  # a trusted client is never checked
    assert t.docmd("EHLO", "localhost")[0] == 250
    close(t)


@pytest.mark.parametrize("on", [True, False])
def test_reverse_dns_check(world, on):
    world.start(reverse_dns="yes" if on else "no")
    for ip, passes in ((world.good, True), (world.bad, False), (world.none, False)):
        s, reply = world.xclient(ip)
        code, text = s.mail("a@example.org")
        if passes or not on:
            assert code == 250, (ip, code, text)
        else:
            assert code == 450 and text.startswith(b"4.7.25 "), \
                (ip, code, text, world.smtpd.output()[-2000:])
            assert ip.encode() in text
        close(s)


@pytest.mark.parametrize("on", [True, False])
def test_sender_domain_check(world, on):
    world.start(sender_domain_check="yes" if on else "no")
    u = world.u
    cases = [(f"a@mx-{u}.test", 250, None), (f"a@a-{u}.test", 250, None), ("", 250, None),
             (f"a@gone-{u}.test", 450, b"4.1.8 "), (f"a@null-{u}.test", 550, b"5.7.27 ")]
    for sender, code, enh in cases:
        s, reply = world.xclient(outside_ip())
        got, text = s.mail(sender)
        if on:
            assert got == code, (sender, got, text)
            assert enh is None or text.startswith(enh), (sender, text)
        else:
            assert got == 250, (sender, got, text)
        close(s)


def test_redis_outage_lets_clients_in(world):
    """The limits live in Redis; while it is down they are not enforced
    (fail open, one warning) and clients are greeted; once it is back the
    limits apply again."""
    import os
    import signal
    from test_smtpd_outage import restore, stop
    d = world.start(max_per_ip="1", per_minute="0", **UNTRUSTED_LOOPBACK)
    src = loopback_ip()
    try:
        stop(os.path.join(world.stack.state, "redis", "redis.pid"), signal.SIGTERM)
        a, b = Conn(world.stack, src), Conn(world.stack, src)
        assert a.line().startswith(b"220 ") and b.line().startswith(b"220 ")
        a.close()
        b.close()
    finally:
        restore(world.stack)
    assert "Redis" in d.output() or "redis" in d.output()

    def limited():
        a = Conn(world.stack, src)
        first = a.line()
        b = Conn(world.stack, src)
        second = b.line()
        a.close()
        b.close()
        return first.startswith(b"220 ") and second.startswith(b"421 ")
    assert wait_until(limited, 15, 0.5), d.output()[-2000:]
