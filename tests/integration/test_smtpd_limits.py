"""Sending limits ([limits], mc-ratelimit) enforced by the real mc-smtpd:
messages and recipients per minute of an authenticated user (451 4.7.1
at MAIL and at RCPT), a daily cap (550 5.7.1) with a domain's override in
domains.send_limits, a per-IP limit for a relay network client (mail to
local users is not counted), one limit.hit event in the Redis stream and
one notice mail to the tenant's admins per window, and the deferred
queue threshold holding a tenant's new mail. Small limits come from
MAILCORE_LIMITS_* in the daemon's environment; admins, overrides and
deferred rows are written straight into PostgreSQL."""
import json
import random

import pytest

from smtp_helpers import (Resp, Tenant, connect, login,  # noqa: F401
                          message, queued, smtpd_exits_cleanly, sql_str,
                          start_smtpd, transaction, user_info)

MINUTE_TEXT = b"4.7.1 Too many messages per minute from this user; try again later"


def submission(stack, t, user):
    s = connect(stack, "submission", starttls=True)
    code, text = login(s, user, t.passwords[user])
    assert code == 235, (code, text)
    return s


def events(stack, tenant, type_="limit.hit"):
    """The events of the mc:events stream for tenant, as dicts."""
    r = Resp(stack)
    rows = r.cmd("XRANGE", "mc:events", "-", "+")
    r.close()
    out = []
    for _, fields in rows:
        f = dict(zip(fields[::2], fields[1::2]))
        if f["type"] == type_ and int(f["tenant"]) == tenant:
            out.append(json.loads(f["json"]))
    return out


def notices(stack, address):
    """Subjects of the limit notices in a user's INBOX."""
    u = user_info(stack, address)
    return [r[0] for r in stack.psql(
        "SELECT m.subject FROM mailbox_messages mm JOIN mailboxes mb ON "
        "mb.tenant_id = mm.tenant_id AND mb.id = mm.mailbox_id JOIN messages m "
        "ON m.tenant_id = mm.tenant_id AND m.id = mm.message_id WHERE "
        f"mb.tenant_id = {u['tenant_id']} AND mb.user_id = {u['user_id']} AND "
        "mb.name = 'INBOX' AND m.subject LIKE 'Sending limit reached%'")]


def make_admin(stack, t, address):
    """A 'tenant' role binding on t held by the user at address."""
    u = user_info(stack, address)
    stack.psql("INSERT INTO role_bindings (role, tenant_id, holder_tenant, "
               f"holder_id) VALUES ('tenant', {t.id}, {u['tenant_id']}, "
               f"{u['user_id']})")


@pytest.fixture
def t(stack, mailctl, uniq):
    """A tenant with alice, bob and carol (its admin)."""
    t = Tenant(stack, mailctl, uniq)
    t.alice, t.bob, t.carol = t.user("alice"), t.user("bob"), t.user("carol")
    make_admin(stack, t, t.carol)
    return t


def test_user_messages_per_minute(t, stack, daemon, uniq):
    start_smtpd(daemon, MAILCORE_LIMITS_USER_MESSAGES_PER_MINUTE="2")
    s = submission(stack, t, t.alice)
    for i in range(2):
        code, text = transaction(s, t.alice, [t.bob], message(f"{uniq}-{i}"))
        assert code == 250, (code, text)
    assert s.mail(t.alice) == (451, MINUTE_TEXT)
    assert s.mail(t.alice) == (451, MINUTE_TEXT)
    s.quit()
    # bob has his own count
    s = submission(stack, t, t.bob)
    assert transaction(s, t.bob, [t.alice], message(uniq + "-b"))[0] == 250
    s.quit()
    # one event and one notice for the two refusals
    [ev] = events(stack, t.id)
    assert (ev["scope"], ev["limit"], ev["max"], ev["used"], ev["user"]) == (
        "user", "messages_per_minute", 2, 2, t.alice)
    assert notices(stack, t.carol) == [
        f"Sending limit reached: user messages_per_minute ({t.alice})"]
    assert notices(stack, t.bob) == []


def test_recipients_per_minute(t, stack, daemon, uniq):
    start_smtpd(daemon, MAILCORE_LIMITS_USER_RECIPIENTS_PER_MINUTE="3")
    s = submission(stack, t, t.alice)
    assert s.mail(t.alice)[0] == 250
    for r in (t.bob, t.carol, f"x-{uniq}@elsewhere.example"):
        assert s.rcpt(r)[0] == 250
    code, text = s.rcpt(f"y-{uniq}@elsewhere.example")
    assert (code, text) == (451, f"4.7.1 <y-{uniq}@elsewhere.example>: Too many "
                            "recipients per minute from this user; try again "
                            "later".encode()), (code, text)
    assert s.data(message(uniq))[0] == 250
    assert s.mail(t.alice)[0] == 250
    assert s.rcpt(t.bob)[0] == 451
    s.quit()
    assert len(events(stack, t.id)) == 1


def test_daily_cap_and_domain_override(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, post = t.user("alice"), t.user("postmaster")
    t2 = Tenant(stack, mailctl, uniq + "b")
    dave = t2.user("dave")
    stack.psql("UPDATE domains SET send_limits = '{\"user_messages_per_day\": 2}' "
               f"WHERE name = {sql_str(t2.domain)}")
    start_smtpd(daemon, MAILCORE_LIMITS_USER_MESSAGES_PER_DAY="1")
    s = submission(stack, t, alice)
    assert transaction(s, alice, [post], message(uniq))[0] == 250
    assert s.mail(alice) == (550, b"5.7.1 Daily message limit reached for this user")
    s.quit()
    # no admin in this tenant: the notice went to its postmaster
    assert notices(stack, post) == [
        f"Sending limit reached: user messages_per_day ({alice})"]
    s = submission(stack, t2, dave)
    for i in range(2):
        assert transaction(s, dave, [alice], message(f"{uniq}-{i}"))[0] == 250
    assert s.mail(dave)[0] == 550
    s.quit()


def test_ip_limit_for_relay_network(t, stack, daemon, uniq):
    ip = f"127.{random.randint(2, 250)}.{random.randint(0, 250)}.{random.randint(2, 250)}"
    start_smtpd(daemon, MAILCORE_SMTPD_RELAY_NETWORKS=f"{ip}/32",
                MAILCORE_LIMITS_IP_MESSAGES_PER_MINUTE="2")
    sender = f"app-{uniq}@sender.example"
    s = connect(stack, source=ip)
    for i in range(3):  # to our own users: not counted
        assert transaction(s, sender, [t.bob], message(f"{uniq}-l{i}"))[0] == 250
    for i in range(2):
        ext = f"r{i}-{uniq}@elsewhere.example"
        assert transaction(s, sender, [ext], message(f"{uniq}-r{i}"))[0] == 250
    assert s.mail(sender)[0] == 250
    ext = f"r2-{uniq}@elsewhere.example"
    code, text = s.rcpt(ext)
    assert (code, text) == (451, f"4.7.1 <{ext}>: Too many messages per minute "
                            "from this IP address; try again later".encode())
    assert s.rcpt(t.bob)[0] == 250  # local mail still flows
    assert s.data(message(uniq + "-last"))[0] == 250
    s.quit()
    assert queued(stack, ext) == []
    hits = [e for e in events(stack, 0) if e.get("ip") == ip]
    assert len(hits) == 1 and hits[0]["limit"] == "messages_per_minute"
    # another client address is not limited
    s = connect(stack)
    assert s.mail(sender)[0] == 250
    s.quit()


def test_deferred_threshold_holds_new_mail(t, stack, daemon, uniq):
    start_smtpd(daemon, MAILCORE_LIMITS_DEFERRED_THRESHOLD="2",
                MAILCORE_LIMITS_DEFERRED_HOLD="yes")
    exts = [f"d{i}-{uniq}@elsewhere.example" for i in range(3)]
    s = submission(stack, t, t.alice)
    assert transaction(s, t.alice, exts, message(uniq))[0] == 250
    [q] = queued(stack, exts[0])
    assert q["state"] == "queued"
    # the delivery agent gave up on them for now
    stack.psql(f"UPDATE queue_recipients SET state = 'deferred' WHERE "
               f"tenant_id = {t.id} AND address LIKE '%-{uniq}@elsewhere.example'")
    r = Resp(stack)
    r.cmd("DEL", f"mc:rl:dq:{t.id}")  # the cached count (a minute)
    r.close()
    for i in range(2):
        ext = f"n{i}-{uniq}@elsewhere.example"
        assert transaction(s, t.alice, [ext], message(f"{uniq}-{i}"))[0] == 250
        [q] = queued(stack, ext)
        assert q["state"] == "held", q
    s.quit()
    [ev] = events(stack, t.id, "queue.deferred_threshold")
    assert (ev["deferred"], ev["threshold"], ev["hold"]) == (3, 2, True)
    # another tenant is not held
    other = Tenant(stack, t.mailctl, uniq + "o")
    eve = other.user("eve")
    s = submission(stack, other, eve)
    ext = f"o-{uniq}@elsewhere.example"
    assert transaction(s, eve, [ext], message(uniq + "-o"))[0] == 250
    s.quit()
    assert queued(stack, ext)[0]["state"] == "queued"
