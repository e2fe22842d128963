"""mc-smtpd while Redis or PostgreSQL goes away under it: a recipient is
answered 451 4.3.0 (never a bounce, never a 250 for mail that is not
kept), nothing is stored half, and once the server is back delivery works
again without restarting the daemon. Each test restores the stack with
ops/stack.sh start (same ports and passwords, from $MAILCORE_STATE), even
when it fails."""
import os
import signal
import smtplib
import time

from conftest import ops
from smtp_helpers import smtpd_exits_cleanly  # noqa: F401 (autouse fixture)
from smtp_helpers import (TEMPFAIL, Resp, Tenant, assert_usage, blob_path,
                          connect, count, mailbox, message, start_smtpd,
                          transaction)

SENDER = "sender@example.org"


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def stop(pidfile, sig):
    """Stops the server whose PID is the first line of pidfile."""
    with open(pidfile) as f:
        pid = int(f.readline())
    os.kill(pid, sig)
    deadline = time.monotonic() + 30
    while alive(pid):
        assert time.monotonic() < deadline, f"{pidfile}: {pid} did not stop"
        time.sleep(0.05)


def restore(stack):
    """Starts whatever is stopped, as ops/stack.sh does; checks both."""
    ops("stack.sh", "start")
    assert stack.psql("SELECT 1") == [["1"]]
    r = Resp(stack)
    assert r.cmd("PING") == "PONG"
    r.close()


def deliver_eventually(stack, rcpt, data, timeout=15):
    """Sends until a 250 (the daemon reconnects on its own); the reply."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = connect(stack)
            try:
                code, text = s.mail(SENDER)
                if code == 250:
                    code, text = s.rcpt(rcpt)
                if code == 250:
                    code, text = s.data(data)
            finally:
                s.close()
        except (OSError, smtplib.SMTPException) as e:
            code, text = 0, str(e).encode()
        if code == 250 or time.monotonic() > deadline:
            return code, text
        assert code in (0, 451), (code, text)  # never a permanent refusal
        time.sleep(0.2)


def consistent(stack, tenant, user, uids):
    """Exactly the accepted messages are stored, each whole."""
    rows = mailbox(stack, user)
    assert [r["uid"] for r in rows] == uids
    assert assert_usage(stack, user) == sum(r["size"] for r in rows)
    assert count(stack, f"SELECT count(*) FROM messages WHERE tenant_id = {tenant.id}") \
        == len(uids)
    assert count(stack, f"SELECT count(*) FROM queue WHERE tenant_id = {tenant.id}") == 0
    for r in rows:
        assert r["refcount"] == 1 and os.path.exists(blob_path(stack, r["sha256"]))


def test_redis_outage_is_a_temporary_failure(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    s = connect(stack)
    assert transaction(s, SENDER, [alice], message(uniq))[0] == 250
    s.quit()
    try:
        stop(os.path.join(stack.state, "redis", "redis.pid"), signal.SIGTERM)
        s = connect(stack)
        assert s.mail(SENDER)[0] == 250
        assert s.rcpt(alice) == (451, b"4.3.0 <" + alice.encode() + b">: " + TEMPFAIL[6:])
        assert s.docmd("DATA")[0] == 554  # no recipient was accepted
        s.quit()
        consistent(stack, t, alice, [1])
    finally:
        restore(stack)
    code, text = deliver_eventually(stack, alice, message(uniq + "-2"))
    assert code == 250, text
    consistent(stack, t, alice, [1, 2])


def test_postgresql_outage_is_a_temporary_failure(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    d = start_smtpd(daemon)
    s = connect(stack)
    assert transaction(s, SENDER, [alice], message(uniq))[0] == 250
    assert s.mail(SENDER)[0] == 250
    assert s.rcpt(alice)[0] == 250  # caches the lookup in Redis again
    s.quit()
    try:
        stop(os.path.join(stack.state, "pg", "data", "postmaster.pid"), signal.SIGINT)
        s = connect(stack)
        assert s.mail(SENDER)[0] == 250
        assert s.rcpt(bob) == (451, b"4.3.0 <" + bob.encode() + b">: " + TEMPFAIL[6:])
        code, text = s.rcpt(alice)  # the directory cache may still answer
        if code == 250:
            code, text = s.data(message(uniq + "-lost"))
        assert code == 451 and text.startswith(b"4.3.0 "), (code, text)
        assert text.endswith(TEMPFAIL[6:]), text
        s.close()
    finally:
        restore(stack)
    code, text = deliver_eventually(stack, alice, message(uniq + "-2"))
    assert code == 250, (code, text, d.output()[-2000:])
    consistent(stack, t, alice, [1, 2])
    assert mailbox(stack, bob) == []
