"""User policies enforced by the real daemons: the resolved protocols at
login (IMAP, POP3, SMTP AUTH), and on the submission port (STARTTLS +
AUTH) internal-only sending, the daily sending count, attachment and
message size limits; and the policy cache, stale until something
invalidates the directory. Policies and limits are written straight
into PostgreSQL (the REST API for them is not in these binaries);
tenants, domains and users come from mailctl."""
import datetime
import email.message
import email.policy
import os
import signal

import pytest

from imap_helpers import imapd_exits_cleanly, start_imapd  # noqa: F401
from smtp_helpers import (Resp, Tenant, connect, count, login,  # noqa: F401
                          smtpd_exits_cleanly, sql_str, start_smtpd,
                          user_info)
from test_login_policy import imap_login, pop3_login
from test_smtpd_outage import restore, stop


@pytest.fixture
def t(stack, mailctl, uniq):
    """A tenant with alice and bob, and another tenant with carol."""
    t = Tenant(stack, mailctl, uniq)
    t.alice, t.bob = t.user("alice"), t.user("bob")
    t.other = Tenant(stack, mailctl, uniq + "o")
    t.carol = t.other.user("carol")
    return t


def add_policy(stack, t, name, position=0, members=(), **settings):
    """A policy of t's domain for members (none: everyone)."""
    cols = ", ".join(["name", "position", "members", *settings])
    vals = ", ".join([sql_str(name), str(position),
                      sql_str("{" + ",".join(members) + "}"),
                      *map(str, settings.values())])
    stack.psql(f"INSERT INTO policies (tenant_id, domain_id, {cols}) SELECT "
               f"tenant_id, id, {vals} FROM domains WHERE name = "
               f"{sql_str(t.domain)}")


def set_policy(stack, t, name, **settings):
    sets = ", ".join(f"{k} = {v}" for k, v in settings.items())
    stack.psql(f"UPDATE policies SET {sets} WHERE name = {sql_str(name)} AND "
               f"tenant_id = {t.id}")


def invalidate(mailctl, t):
    """A mailctl change (here a no-op one) bumps the directory generation,
    which stales cached policies too."""
    r = mailctl("domain", "set", t.domain, "--quota-permanent", "no")
    assert r.returncode == 0, r.stderr


def submission(stack, t, user):
    """A submission session after STARTTLS and AUTH as user."""
    s = connect(stack, "submission", starttls=True)
    code, text = login(s, user, t.passwords[user])
    assert code == 235, (code, text)
    return s


def message(sender, rcpt, attachment=None, name="file.bin", body="hello\r\n"):
    m = email.message.EmailMessage(policy=email.policy.SMTP)
    m["From"], m["To"], m["Subject"] = sender, rcpt, "policy test"
    m.set_content(body)
    if attachment is not None:
        m.add_attachment(attachment, maintype="application",
                         subtype="octet-stream", filename=name)
    return m.as_bytes()


def send(s, sender, rcpt, data, options=()):
    """MAIL, RCPT (250 asserted), DATA: the reply to the data."""
    assert s.mail(sender, list(options))[0] == 250
    assert s.rcpt(rcpt)[0] == 250
    return s.data(data)


def inbox_count(stack, address):
    u = user_info(stack, address)
    return count(stack, "SELECT count(*) FROM mailbox_messages mm JOIN "
                 "mailboxes mb ON mb.tenant_id = mm.tenant_id AND mb.id = "
                 f"mm.mailbox_id WHERE mb.tenant_id = {u['tenant_id']} AND "
                 f"mb.user_id = {u['user_id']} AND mb.name = 'INBOX'")


def test_policy_protocols_at_login(t, stack, mailctl, daemon):
    start_imapd(daemon)
    daemon("mc-pop3d")
    start_smtpd(daemon)
    add_policy(stack, t, "noimap", members=[t.alice.split("@")[0]],
               protocols="'{pop3,smtp}'")
    invalidate(mailctl, t)
    typ, why = imap_login(stack, t.alice, t.passwords[t.alice])
    assert typ == "NO" and "AUTHORIZATIONFAILED" in why, why
    assert pop3_login(stack, t.alice, t.passwords[t.alice]).startswith("+OK")
    assert imap_login(stack, t.bob, t.passwords[t.bob])[0] == "OK"
    s = connect(stack, "submission", starttls=True)
    assert login(s, t.alice, t.passwords[t.alice])[0] == 235
    s.quit()
    # without smtp: the same refusal as the user's own switch
    set_policy(stack, t, "noimap", protocols="'{pop3}'")
    invalidate(mailctl, t)
    s = connect(stack, "submission", starttls=True)
    code, text = login(s, t.alice, t.passwords[t.alice])
    assert (code, text[:5]) == (535, b"5.7.8"), (code, text)
    s.close()
    # the user's switch still narrows what the policy allows
    set_policy(stack, t, "noimap", protocols="NULL")
    assert mailctl("user", "set", t.alice, "--protocols",
                   "imap").returncode == 0
    assert imap_login(stack, t.alice, t.passwords[t.alice])[0] == "OK"
    assert "SYS/PERM" in pop3_login(stack, t.alice, t.passwords[t.alice])


def test_internal_only(t, stack, mailctl, daemon):
    start_smtpd(daemon)
    add_policy(stack, t, "inside", members=["alice"], internal_only="true")
    invalidate(mailctl, t)
    s = submission(stack, t, t.alice)
    assert s.mail(t.alice)[0] == 250
    code, text = s.rcpt("someone@example.net")
    assert code == 550, (code, text)
    assert text == (b"5.7.1 <someone@example.net>: this account may only "
                    b"send to internal recipients")
    code, text = s.rcpt(t.carol)  # hosted here, but another tenant's
    assert (code, text[:5]) == (550, b"5.7.1"), (code, text)
    assert s.rcpt(t.bob)[0] == 250
    code, text = s.data(message(t.alice, t.bob))
    assert code == 250, (code, text)
    s.quit()
    assert inbox_count(stack, t.bob) == 1
    # bob is not under the policy
    s = submission(stack, t, t.bob)
    assert s.mail(t.bob)[0] == 250
    assert s.rcpt("someone@example.net")[0] == 250
    s.rset()
    s.quit()


def test_daily_count_limit(t, stack, mailctl, daemon):
    start_smtpd(daemon)
    add_policy(stack, t, "two-a-day", send_count_daily=2)
    invalidate(mailctl, t)
    s = submission(stack, t, t.alice)
    for _ in range(2):
        code, text = send(s, t.alice, t.bob, message(t.alice, t.bob))
        assert code == 250, (code, text)
    code, text = s.mail(t.alice)
    assert (code, text) == (451, b"4.7.1 daily sending limit reached, "
                                 b"try tomorrow")
    s.quit()
    u = user_info(stack, t.alice)
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    r = Resp(stack)
    n, size = r.cmd("HMGET", f"mc:send:{u['tenant_id']}:{u['user_id']}:{day}",
                    "n", "b")
    r.close()
    assert int(n) == 2 and int(size) > 0
    assert inbox_count(stack, t.bob) == 2
    # bob has a counter of his own
    s = submission(stack, t, t.bob)
    assert send(s, t.bob, t.alice, message(t.bob, t.alice))[0] == 250
    s.quit()


def test_attachment_and_message_size(t, stack, mailctl, daemon):
    start_smtpd(daemon)
    add_policy(stack, t, "small", members=["alice"],
               attachment_max_bytes=1000)
    invalidate(mailctl, t)
    s = submission(stack, t, t.alice)
    code, text = send(s, t.alice, t.bob,
                      message(t.alice, t.bob, b"x" * 2000, "big.bin"))
    assert (code, text) == (552, b"5.3.4 attachment big.bin too large "
                                 b"(limit 1000 bytes)"), (code, text)
    code, text = send(s, t.alice, t.bob,
                      message(t.alice, t.bob, b"x" * 500, "small.bin"))
    assert code == 250, (code, text)
    # a long text body is no attachment
    code, text = send(s, t.alice, t.bob,
                      message(t.alice, t.bob, body="text " * 1000 + "\r\n"))
    assert code == 250, (code, text)
    s.quit()
    assert inbox_count(stack, t.bob) == 2
    # the tenant's message size ceiling caps SIZE and the data
    stack.psql(f"UPDATE tenants SET lim_message_bytes = 3000 WHERE id = {t.id}")
    invalidate(mailctl, t)
    s = submission(stack, t, t.alice)
    code, text = s.mail(t.alice, ["SIZE=5000"])
    assert (code, text[:5]) == (552, b"5.3.4"), (code, text)
    code, text = send(s, t.alice, t.bob,
                      message(t.alice, t.bob, body="y" * 4000 + "\r\n"))
    assert (code, text[:5]) == (552, b"5.3.4"), (code, text)
    assert send(s, t.alice, t.bob, message(t.alice, t.bob))[0] == 250
    s.quit()


def test_cache_until_invalidated(t, stack, mailctl, daemon):
    start_smtpd(daemon)
    add_policy(stack, t, "cached", members=["alice"],
               attachment_max_bytes=1000)
    invalidate(mailctl, t)
    data = message(t.alice, t.bob, b"z" * 500, "half.bin")
    s = submission(stack, t, t.alice)  # AUTH resolves and caches
    assert send(s, t.alice, t.bob, data)[0] == 250
    set_policy(stack, t, "cached", attachment_max_bytes=100)
    # the cached policy still applies ...
    assert send(s, t.alice, t.bob, data)[0] == 250
    # ... until a change through mailctl invalidates the directory
    invalidate(mailctl, t)
    code, text = send(s, t.alice, t.bob, data)
    assert (code, text) == (552, b"5.3.4 attachment half.bin too large "
                                 b"(limit 100 bytes)"), (code, text)
    s.quit()


def test_counters_fail_open(t, stack, mailctl, daemon):
    """Redis down: MAIL is not refused for the daily limit (the policy
    comes from PostgreSQL, the counters are skipped and logged), and what
    the directory cannot answer is 451, never a bounce."""
    d = start_smtpd(daemon)
    add_policy(stack, t, "limited", send_count_daily=1)
    invalidate(mailctl, t)
    s = submission(stack, t, t.alice)
    try:
        stop(os.path.join(stack.state, "redis", "redis.pid"), signal.SIGTERM)
        assert s.mail(t.alice)[0] == 250
        code, text = s.rcpt(t.bob)
        assert (code, text[:5]) == (451, b"4.3.0"), (code, text)
        s.rset()
        s.quit()
    finally:
        restore(stack)
    assert "daily counters unavailable, not enforced" in d.output()
