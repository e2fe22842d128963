"""Shared by the mc-smtpd integration tests: tenants, domains and users
made with mailctl, SMTP clients (smtplib, a raw socket client, swaks),
and what the store holds afterwards (PostgreSQL rows, blob files under
$MAILCORE_STATE/blobs, Redis)."""
import base64
import hashlib
import os
import re
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

HELO = "client.example"
TEMPFAIL = b"4.3.0 Temporary failure, please try again later"
RECEIVED_DATE = rb"\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000"


def ok(r):
    """Asserts a mailctl run succeeded."""
    assert r.returncode == 0, (r.args, r.returncode, r.stdout, r.stderr)
    return r


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


class Tenant:
    """A tenant with one domain, made with mailctl; users on demand."""

    def __init__(self, stack, mailctl, name, domain=None):
        self.stack, self.mailctl, self.name = stack, mailctl, name
        self.domain = domain or f"{name}.example"
        self.passwords = {}
        ok(mailctl("tenant", "add", name))
        ok(mailctl("domain", "add", self.domain, "--tenant", name))
        self.id = int(stack.psql(f"SELECT id FROM tenants WHERE name = {sql_str(name)}")[0][0])

    def user(self, local, password=None):
        """Adds local@domain; returns the address."""
        addr = f"{local}@{self.domain}"
        self.passwords[addr] = password or f"pw-{local}-{self.name}"
        ok(self.mailctl("user", "add", addr, "--password", self.passwords[addr]))
        return addr


_started = []


def start_smtpd(daemon, **env):
    """mc-smtpd with extra MAILCORE_* settings, once it is ready."""
    d = daemon("mc-smtpd", env=env or None)
    _started.append(d)
    return d


def sessions_open(d):
    """Connections the daemon's log shows as not yet ended."""
    out = d.output()
    return out.count(": connect on ") - out.count(": disconnected\n")


@pytest.fixture(autouse=True)
def smtpd_exits_cleanly(daemon):
    """After each test (before the daemon fixture stops them), every
    mc-smtpd it started has ended all its sessions, stops with status 0
    and has logged no sanitizer report (CI also runs under ASan)."""
    _started.clear()
    yield
    try:
        for d in _started:
            if d.proc.poll() is None:
                wait_until(lambda: sessions_open(d) == 0, 3)
                left = sessions_open(d)
                assert left == 0, f"{left} session(s) never ended:\n{d.output()[-3000:]}"
            rc, out = d.stop(), d.output()
            assert "Sanitizer" not in out and "runtime error:" not in out, out[-5000:]
            assert rc == 0, (rc, out[-3000:])
    finally:
        _started.clear()


def tls_context(stack, check_hostname=True):
    ctx = ssl.create_default_context(cafile=stack.ca)
    ctx.check_hostname = check_hostname
    return ctx


def connect(stack, port="smtp", source=None, starttls=False):
    """An smtplib client after EHLO (and STARTTLS + EHLO when asked)."""
    src = (source, 0) if source else None
    if port == "submissions":
        s = smtplib.SMTP_SSL("127.0.0.1", stack.port(port), local_hostname=HELO,
                             timeout=15, source_address=src,
                             context=tls_context(stack, check_hostname=False))
    else:
        s = smtplib.SMTP("127.0.0.1", stack.port(port), local_hostname=HELO,
                         timeout=15, source_address=src)
    code, _ = s.ehlo()
    assert code == 250
    if starttls:
        code, _ = s.starttls(context=tls_context(stack, check_hostname=False))
        assert code == 220
        assert s.ehlo()[0] == 250
    return s


def login(s, user, password):
    """AUTH PLAIN; returns (code, text)."""
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    return s.docmd("AUTH", "PLAIN " + token)


def transaction(s, sender, rcpts, data, mail_options=()):
    """MAIL, RCPTs (each must be 250), DATA; returns the final reply."""
    code, text = s.mail(sender, list(mail_options))
    assert code == 250, (code, text)
    for r in rcpts:
        code, text = s.rcpt(r)
        assert code == 250, (r, code, text)
    return s.data(data)


def send(stack, sender, rcpts, data, port="smtp", source=None, **kw):
    """One message in its own session; the reply to the data (250 asserted)."""
    s = connect(stack, port, source=source)
    try:
        code, text = transaction(s, sender, rcpts, data, **kw)
        assert code == 250, (code, text)
        s.quit()
    finally:
        s.close()
    return text


def queue_id(reply_text):
    """The id of "2.0.0 OK: queued as ID"."""
    m = re.fullmatch(rb"2\.0\.0 OK: queued as (\w+)", reply_text)
    assert m, reply_text
    return m.group(1).decode()


def message(tag, subject="hello", body=None, extra=b""):
    """A small RFC 5322 message with CRLF lines; unique by tag."""
    if body is None:
        body = b"Hello " + tag.encode() + b".\r\nSecond line.\r\n"
    return (b"From: Sender <sender@example.org>\r\n"
            b"To: someone@example.net\r\n"
            b"Subject: " + subject.encode() + b" " + tag.encode() + b"\r\n"
            b"Message-ID: <" + tag.encode() + b"@example.org>\r\n" + extra +
            b"\r\n" + body)


class Raw:
    """A raw SMTP client on a socket: exact bytes in, replies out."""

    def __init__(self, stack, port="smtp", source=None, timeout=15):
        self.sock = socket.create_connection(
            ("127.0.0.1", stack.port(port)), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply()
        assert self.greeting[0] == 220, self.greeting

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """(code, [text lines]) of one reply, possibly multi-line."""
        lines = []
        while True:
            line = self.f.readline()
            assert line.endswith(b"\r\n"), (line, lines)
            lines.append(line[4:-2])
            if line[3:4] == b" ":
                return int(line[:3]), lines
            assert line[3:4] == b"-", line

    def cmd(self, line):
        self.send(line.encode() if isinstance(line, str) else line)
        self.send(b"\r\n")
        return self.reply()

    def ehlo(self):
        code, lines = self.cmd(f"EHLO {HELO}")
        assert code == 250, lines
        return lines

    def close(self):
        self.f.close()
        self.sock.close()


def swaks(stack, *args, port="smtp"):
    """Runs swaks against a listener; returns the CompletedProcess."""
    return subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{stack.port(port)}", "--helo", HELO,
         "--timeout", "15", *args],
        capture_output=True, text=True, timeout=60)


# -- what is stored -------------------------------------------------------

def user_info(stack, address):
    """tenant_id, user_id, domain_id, used_bytes of a user."""
    local, dom = address.split("@")
    rows = stack.psql(
        "SELECT u.tenant_id, u.id, u.domain_id, u.used_bytes FROM users u "
        f"JOIN domains d ON d.id = u.domain_id WHERE d.name = {sql_str(dom)} "
        f"AND u.local_part = {sql_str(local)}")
    assert len(rows) == 1, (address, rows)
    return dict(zip(("tenant_id", "user_id", "domain_id", "used"),
                    map(int, rows[0])))


def mailbox(stack, address, name="INBOX"):
    """The messages of a user's mailbox in UID order, with their message
    rows: uid, modseq, size, mailbox_id, msg_id, sha256, refcount, msg_size."""
    u = user_info(stack, address)
    rows = stack.psql(
        "SELECT mm.uid, mm.modseq, mm.size_bytes, mb.id, m.id, m.sha256, "
        "m.refcount, m.size_bytes FROM mailboxes mb JOIN mailbox_messages mm "
        "ON mm.tenant_id = mb.tenant_id AND mm.mailbox_id = mb.id "
        "JOIN messages m ON m.tenant_id = mm.tenant_id AND m.id = mm.message_id "
        f"WHERE mb.tenant_id = {u['tenant_id']} AND mb.user_id = {u['user_id']} "
        f"AND mb.name = {sql_str(name)} ORDER BY mm.uid")
    keys = ("uid", "modseq", "size", "mailbox_id", "msg_id", "sha256",
            "refcount", "msg_size")
    return [{k: (v if k == "sha256" else int(v)) for k, v in zip(keys, r)}
            for r in rows]


def blob_path(stack, sha):
    return os.path.join(stack.state, "blobs", sha[:2], sha[2:4], sha)


def blob(stack, sha):
    """The blob's bytes, checked against its name."""
    with open(blob_path(stack, sha), "rb") as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == sha
    return data


def stored(stack, row, body):
    """Checks one mailbox row's blob (hash, size, our Received: header
    first, the body sent last); returns the blob."""
    data = blob(stack, row["sha256"])
    assert len(data) == row["size"] == row["msg_size"]
    assert data.startswith(b"Received: from "), data[:200]
    assert data.endswith(body), data[-300:]
    return data


def assert_usage(stack, address):
    """used_bytes of the user (and its domain) equal what is stored."""
    u = user_info(stack, address)
    where = f"mb.tenant_id = {u['tenant_id']} AND mb.user_id = {u['user_id']}"
    rows = count(stack, "SELECT coalesce(sum(mm.size_bytes), 0) FROM mailboxes mb "
                 "JOIN mailbox_messages mm ON mm.tenant_id = mb.tenant_id AND "
                 f"mm.mailbox_id = mb.id WHERE {where}")
    boxes = count(stack, "SELECT coalesce(sum(size_bytes), 0) FROM mailboxes mb "
                  f"WHERE {where}")
    assert u["used"] == rows == boxes, (address, u, rows, boxes)
    dom = stack.psql(
        "SELECT (SELECT coalesce(sum(used_bytes), 0) FROM domain_usage WHERE "
        "domain_id = d.id), (SELECT sum(used_bytes) FROM users WHERE "
        f"domain_id = d.id) FROM domains d WHERE d.id = {u['domain_id']}")[0]
    assert int(dom[0]) == int(dom[1]), (address, dom)
    return u["used"]


def queued(stack, address):
    """Queue entries with a recipient address, oldest first."""
    rows = stack.psql(
        "SELECT q.tenant_id, q.queue_id, q.sender, coalesce(q.auth_user, ''), "
        "host(q.client_ip), q.state, r.state, q.message_id, q.size_bytes, "
        "m.sha256, m.refcount FROM queue_recipients r JOIN queue q ON "
        "q.tenant_id = r.tenant_id AND q.id = r.queue_entry JOIN messages m ON "
        "m.tenant_id = q.tenant_id AND m.id = q.message_id WHERE r.address = "
        f"{sql_str(address)} ORDER BY q.id")
    keys = ("tenant_id", "queue_id", "sender", "auth_user", "client_ip",
            "state", "rcpt_state", "msg_id", "size", "sha256", "refcount")
    ints = {"tenant_id", "msg_id", "size", "refcount"}
    return [{k: (int(v) if k in ints else v) for k, v in zip(keys, r)}
            for r in rows]


def count(stack, sql):
    return int(stack.psql(sql)[0][0])


def blob_files(stack):
    """Every finished blob file (not the temporary ones)."""
    root = os.path.join(stack.state, "blobs")
    found = set()
    for d, _, files in os.walk(root):
        if os.path.relpath(d, root).split(os.sep)[0] != "tmp":
            found.update(os.path.join(d, f) for f in files)
    return found


def tmp_files(stack):
    d = os.path.join(stack.state, "blobs", "tmp")
    return os.listdir(d) if os.path.isdir(d) else []


def wait_until(check, timeout=5, interval=0.05):
    """Polls check() until it returns something true; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        r = check()
        if r or time.monotonic() > deadline:
            return r
        time.sleep(interval)


# -- Redis ------------------------------------------------------------------

class Resp:
    """A minimal RESP client (AUTH with the stack's password)."""

    def __init__(self, stack, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", stack.redis_port),
                                             timeout=timeout)
        self.f = self.sock.makefile("rb")
        if stack.redis_password:
            assert self.cmd("AUTH", stack.redis_password) == "OK"

    def send(self, *args):
        data = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            data += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(data)

    def read(self):
        line = self.f.readline()
        assert line.endswith(b"\r\n"), line
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise AssertionError(f"redis error: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2].decode()
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        raise AssertionError(line)

    def cmd(self, *args):
        self.send(*args)
        return self.read()

    def close(self):
        self.f.close()
        self.sock.close()
