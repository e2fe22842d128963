"""mc-pop3d against messages delivered by mc-smtpd, with real clients:
Python's poplib (STLS and POP3S), curl (pop3:// with --ssl-reqd, pop3s://)
and fetchmail. Login (good, wrong password with its pause, plaintext
refused before STLS), STAT/LIST/UIDL against the store (UIDL stable),
RETR byte-exact against the blob, TOP, DELE+QUIT expunging in the store,
DELE+RSET keeping, the maildrop lock ([IN-USE], and expiry of a lock
left behind), and a Redis outage answered -ERR [SYS/TEMP]."""
import os
import poplib
import signal
import ssl
import subprocess
import time

import pytest

from conftest import ops
from smtp_helpers import smtpd_exits_cleanly  # noqa: F401 (autouse fixture)
from smtp_helpers import (Resp, Tenant, blob, count, mailbox, message, send,
                          sessions_open, start_smtpd, user_info, wait_until)

SENDER = "sender@example.org"


def tls(stack):
    return ssl.create_default_context(cafile=stack.ca)


def connect(stack, port="pop3", stls=True):
    """A poplib client: STLS on the plain port, POP3_SSL on pop3s."""
    if port == "pop3s":
        return poplib.POP3_SSL("127.0.0.1", stack.port("pop3s"), timeout=15,
                               context=tls(stack))
    p = poplib.POP3("127.0.0.1", stack.port("pop3"), timeout=15)
    if stls:
        p.stls(context=tls(stack))
    return p


def login(stack, user, password, **kw):
    p = connect(stack, **kw)
    p.user(user)
    p.pass_(password)
    return p


def refusal(stack, user, password):
    """The -ERR line a login gets (it must fail)."""
    p = connect(stack)
    p.user(user)
    with pytest.raises(poplib.error_proto) as e:
        p.pass_(password)
    p.quit()
    return e.value.args[0]


def uidvalidity(stack, user):
    u = user_info(stack, user)
    return int(stack.psql(
        f"SELECT uidvalidity FROM mailboxes WHERE tenant_id = {u['tenant_id']} "
        f"AND user_id = {u['user_id']} AND name = 'INBOX'")[0][0])


_pop3d = []


@pytest.fixture(autouse=True)
def pop3d_exits_cleanly():
    """Every mc-pop3d a test started ends all its sessions, stops with
    status 0 and logs no sanitizer report."""
    _pop3d.clear()
    yield
    for d in _pop3d:
        if d.proc.poll() is None:
            wait_until(lambda: sessions_open(d) == 0, 3)
            assert sessions_open(d) == 0, d.output()[-3000:]
        rc, out = d.stop(), d.output()
        assert "Sanitizer" not in out and "runtime error:" not in out, out[-5000:]
        assert rc == 0, (rc, out[-3000:])
    _pop3d.clear()


def start_pop3d(daemon, **env):
    d = daemon("mc-pop3d", env=env or None)
    _pop3d.append(d)
    return d


@pytest.fixture
def box(stack, mailctl, daemon, uniq):
    """A user with three delivered messages (one with a dot-led line),
    and mc-pop3d running; (tenant, user, password, pop3d)."""
    t = Tenant(stack, mailctl, uniq)
    user = t.user("alice")
    start_smtpd(daemon)
    bodies = [b"First.\r\n.leading dot\r\nthird line\r\n", None,
              b"".join(b"%077d\r\n" % i for i in range(5000))]
    for i, body in enumerate(bodies):
        send(stack, SENDER, [user], message(f"{uniq}-{i}", body=body))
    d = start_pop3d(daemon)
    return t, user, t.passwords[user], d


def test_stat_list_uidl_retr_top_match_the_store(stack, box):
    t, user, pw, _ = box
    rows = mailbox(stack, user)
    uv = uidvalidity(stack, user)
    p = login(stack, user, pw)
    assert p.stat() == (3, sum(r["size"] for r in rows))
    _, listing, _ = p.list()
    assert listing == [b"%d %d" % (i + 1, r["size"]) for i, r in enumerate(rows)]
    _, uidl, _ = p.uidl()
    assert uidl == [b"%d %d.%d" % (i + 1, uv, r["uid"]) for i, r in enumerate(rows)]
    for i, r in enumerate(rows):
        _, lines, octets = p.retr(i + 1)
        data = blob(stack, r["sha256"])
        assert b"\r\n".join(lines) + b"\r\n" == data
    _, lines, _ = p.top(1, 1)
    head = blob(stack, rows[0]["sha256"]).split(b"\r\n\r\n", 1)[0]
    assert lines == head.split(b"\r\n") + [b"", b"First."]
    p.quit()
    p = login(stack, user, pw, port="pop3s")  # POP3S, a second session
    assert p.uidl()[1] == uidl
    p.quit()
    assert len(mailbox(stack, user)) == 3


def test_wrong_password_is_auth_after_a_pause(stack, box):
    _, user, _, _ = box
    started = time.monotonic()
    assert refusal(stack, user, "wrong").startswith(b"-ERR [AUTH]")
    assert time.monotonic() - started >= 0.9


def test_plaintext_login_needs_stls(stack, daemon, box):
    _, user, pw, d = box
    d.stop()
    start_pop3d(daemon, MAILCORE_POP3D_PLAINTEXT_AUTH_NETWORKS="")
    p = connect(stack, stls=False)
    assert "USER" not in p.capa()
    with pytest.raises(poplib.error_proto) as e:
        p.user(user)
    assert b"use STLS first" in e.value.args[0]
    p.quit()
    p = login(stack, user, pw)
    assert p.stat()[0] == 3
    p.quit()


def test_dele_quit_expunges_and_rset_keeps(stack, box):
    _, user, pw, _ = box
    rows = mailbox(stack, user)
    p = login(stack, user, pw)
    p.dele(1)
    p.rset()
    p.quit()
    assert mailbox(stack, user) == rows
    p = login(stack, user, pw)
    p.dele(1)
    p.dele(3)
    assert p.stat() == (1, rows[1]["size"])
    p.quit()
    assert [r["uid"] for r in mailbox(stack, user)] == [rows[1]["uid"]]
    mb = rows[0]["mailbox_id"]
    assert count(stack, f"SELECT count(*) FROM expunged WHERE mailbox_id = {mb} "
                 f"AND uid IN ({rows[0]['uid']}, {rows[2]['uid']})") == 2


def test_maildrop_lock(stack, box):
    t, user, pw, _ = box
    p = login(stack, user, pw)
    assert refusal(stack, user, pw).startswith(b"-ERR [IN-USE]")
    p.quit()
    q = login(stack, user, pw)  # released at the end of the session
    q.quit()
    # a lock left behind by a crashed session expires by itself
    u = user_info(stack, user)
    r = Resp(stack)
    key = f"mc:pop3lock:{u['tenant_id']}:{u['user_id']}"
    assert r.cmd("SET", key, "crashed", "PX", "1500") == "OK"
    assert refusal(stack, user, pw).startswith(b"-ERR [IN-USE]")
    time.sleep(1.6)
    q = login(stack, user, pw)
    assert r.cmd("GET", key) not in (None, "crashed")  # ours now
    q.quit()
    assert wait_until(lambda: r.cmd("GET", key) is None, 3)
    r.close()


def pidfile_stop(pidfile):
    with open(pidfile) as f:
        pid = int(f.readline())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_redis_outage_is_sys_temp(stack, box):
    _, user, pw, _ = box
    try:
        pidfile_stop(os.path.join(stack.state, "redis", "redis.pid"))
        assert refusal(stack, user, pw).startswith(b"-ERR [SYS/TEMP]")
    finally:
        ops("stack.sh", "start")
    p = login(stack, user, pw)
    assert p.stat()[0] == 3
    p.quit()


def curl(stack, url, user, pw, *args):
    return subprocess.run(
        ["curl", "-sS", "--max-time", "15", "--cacert", stack.ca, "--user",
         f"{user}:{pw}", *args, url], capture_output=True, timeout=30)


def test_curl_pop3_stls_and_pop3s(stack, box):
    _, user, pw, _ = box
    rows = mailbox(stack, user)
    r = curl(stack, f"pop3://127.0.0.1:{stack.port('pop3')}/1", user, pw,
             "--ssl-reqd")
    assert r.returncode == 0, r.stderr
    assert r.stdout == blob(stack, rows[0]["sha256"])
    r = curl(stack, f"pop3s://127.0.0.1:{stack.port('pop3s')}/", user, pw)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(b"\r\n")[:3] == [b"1 %d" % rows[0]["size"],
                                           b"2 %d" % rows[1]["size"],
                                           b"3 %d" % rows[2]["size"]]


@pytest.mark.parametrize("port", ["pop3", "pop3s"])
def test_fetchmail_fetches_and_deletes(stack, box, tmp_path, port):
    _, user, pw, _ = box
    rows = mailbox(stack, user)
    out = tmp_path / "mbox"
    rc = tmp_path / "fetchmailrc"
    ssl_opt = "ssl" if port == "pop3s" else "sslproto TLS1.2+"
    rc.write_text(
        f'set no syslog\n'
        f'poll 127.0.0.1 with proto POP3 port {stack.port(port)} timeout 15\n'
        f'  user "{user}" there with password "{pw}" is "nobody" here\n'
        f'  {ssl_opt} sslcertck sslcertfile "{stack.ca}" sslcommonname localhost\n'
        f'  fetchall mda "cat >> {out}"\n')
    rc.chmod(0o600)
    r = subprocess.run(["fetchmail", "-f", str(rc), "--nodetach", "-v"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HOME=str(tmp_path),
                                FETCHMAILHOME=str(tmp_path)))
    assert r.returncode == 0, r.stdout + r.stderr
    if port == "pop3":
        assert "POP3> STLS" in r.stdout + r.stderr, r.stdout + r.stderr
    got = out.read_bytes().replace(b"\r\n", b"\n")
    for row in rows:
        assert blob(stack, row["sha256"]).replace(b"\r\n", b"\n") in got
    assert mailbox(stack, user) == []
