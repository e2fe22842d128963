"""mc-smtpd applying automatic BCC rules (table bcc_rules, inserted here
with psql since the API is written elsewhere): an "in" rule copies mail
accepted for a local recipient (matched as given and as the mailbox it
resolves to), an "out" rule mail an authenticated user submits with an
envelope sender of the domain, "*" matches every address; the copy is the
same stored message (one blob, one refcounted row), the original is
unchanged, each target gets one copy, copies trigger no further rules,
a remote target is queued (never bounced back), a target that cannot take
the copy does not hold up the message, and a rule lookup that fails is
451 4.3.0 with nothing stored."""
import socket

from smtp_helpers import smtpd_exits_cleanly  # noqa: F401 (autouse fixture)
from smtp_helpers import (TEMPFAIL, Tenant, connect, count, login, mailbox,
                          message, ok, queue_id, queued, send, sql_str,
                          start_smtpd, stored, transaction)

SENDER = "sender@example.org"


def rule(stack, t, direction, local, target, domain=None):
    """Adds a BCC rule to the tenant's domain."""
    stack.psql(
        "INSERT INTO bcc_rules (tenant_id, domain_id, direction, local_part, "
        f"target) SELECT tenant_id, id, {sql_str(direction)}, {sql_str(local)}, "
        f"{sql_str(target)} FROM domains WHERE name = {sql_str(domain or t.domain)}")


def redis_cmd(stack, *args):
    """One Redis command over RESP (AUTH first); the reply line."""
    with socket.create_connection(("127.0.0.1", stack.redis_port), timeout=5) as s:
        f = s.makefile("rb")
        cmds = ([("AUTH", stack.redis_password)] if stack.redis_password else []) + [args]
        for c in cmds:
            s.sendall(b"*%d\r\n" % len(c) + b"".join(
                b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in c))
            line = f.readline()
            assert line[:1] != b"-", line
        return line


def invalidate(stack):
    """What every directory change does: cached lookups and rules go stale."""
    redis_cmd(stack, "INCR", "mc:dir:gen")


def notify_of(stack, address):
    return [int(r[0]) for r in stack.psql(
        f"SELECT notify FROM queue_recipients WHERE address = {sql_str(address)}")]


def test_inbound_rule_copies_the_same_message(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob, arch = t.user("alice"), t.user("bob"), t.user("arch")
    rule(stack, t, "in", "alice", arch)
    start_smtpd(daemon)
    data = message(uniq)
    send(stack, SENDER, [alice], data)
    [a], [c] = mailbox(stack, alice), mailbox(stack, arch)
    assert a["sha256"] == c["sha256"] and a["msg_id"] == c["msg_id"]
    assert a["refcount"] == 2 and c["uid"] == 1
    blob = stored(stack, a, data)
    assert stored(stack, c, data) == blob
    assert f"for <{alice}>".encode() in blob  # as if there were no copy
    assert b"arch" not in blob
    assert count(stack, f"SELECT count(*) FROM queue WHERE tenant_id = {t.id}") == 0

    send(stack, SENDER, [bob], message(uniq + "-bob"))  # no rule for bob
    assert len(mailbox(stack, bob)) == 1 and len(mailbox(stack, arch)) == 1


def test_inbound_matches_as_given_and_as_resolved(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob, arch, arch2 = (t.user(u) for u in ("alice", "bob", "arch", "arch2"))
    old = f"old-{uniq}.example"
    ok(mailctl("domain", "alias", old, t.domain))
    ok(mailctl("alias", "add", f"info@{t.domain}", alice))
    ok(mailctl("alias", "add", f"sales@{t.domain}", bob))
    rule(stack, t, "in", "alice", arch)  # the mailbox an address leads to
    rule(stack, t, "in", "sales", arch2)  # the address as given
    start_smtpd(daemon)
    for n, rcpt in enumerate((f"info@{t.domain}", f"Alice+x@{old.upper()}",
                              f"alice@{old}")):
        send(stack, SENDER, [rcpt], message(f"{uniq}-{n}"))
    assert len(mailbox(stack, alice)) == 3 and len(mailbox(stack, arch)) == 3
    send(stack, SENDER, [f"sales@{t.domain}"], message(uniq + "-sales"))
    [b], [c] = mailbox(stack, bob), mailbox(stack, arch2)
    assert b["msg_id"] == c["msg_id"]
    assert len(mailbox(stack, arch)) == 3


def test_star_rule_one_copy_per_message(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    other = Tenant(stack, mailctl, "o" + uniq)
    arch = other.user("arch")  # a target in another tenant
    rule(stack, t, "in", "*", arch)
    start_smtpd(daemon)
    data = message(uniq)
    send(stack, SENDER, [alice, bob, f"bob+x@{t.domain}"], data)
    [c] = mailbox(stack, arch)
    stored(stack, c, data)
    [a] = mailbox(stack, alice)
    assert a["sha256"] == c["sha256"] and a["refcount"] == 2  # bob's and alice's
    assert c["refcount"] == 1  # the other tenant's own row
    send(stack, SENDER, [alice], message(uniq + "-2"))
    assert len(mailbox(stack, arch)) == 2


def test_outbound_rule_from_authenticated_submission(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob, arch = t.user("alice"), t.user("bob"), t.user("arch")
    rule(stack, t, "out", "alice", arch)
    ext = f"ext-{uniq}@elsewhere.example"
    start_smtpd(daemon)
    s = connect(stack, "submissions")
    assert login(s, alice, t.passwords[alice])[0] == 235
    data = message(uniq)
    code, text = transaction(s, alice, [ext], data)
    assert code == 250, text
    s.quit()
    [q] = queued(stack, ext)
    assert (q["tenant_id"], q["queue_id"], q["sender"], q["auth_user"], q["rcpt_state"]) \
        == (t.id, queue_id(text), alice, alice, "queued")
    [c] = mailbox(stack, arch)
    assert c["msg_id"] == q["msg_id"] and c["refcount"] == 2
    stored(stack, c, data)
    assert count(stack, "SELECT count(*) FROM queue_recipients WHERE tenant_id = "
                 f"{t.id}") == 1  # the external recipient only

    # not authenticated (MX): the envelope sender alone is no submission
    send(stack, alice, [bob], message(uniq + "-mx"))
    assert len(mailbox(stack, arch)) == 1
    # another sender of the domain: no rule, no copy
    s = connect(stack, "submissions")
    assert login(s, bob, t.passwords[bob])[0] == 235
    code, text = transaction(s, bob, [ext], message(uniq + "-bob"))
    assert code == 250, text
    s.quit()
    assert len(mailbox(stack, arch)) == 1


def test_remote_target_is_queued_without_dsn(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    arch = f"arch-{uniq}@archive.example"
    rule(stack, t, "both", "alice", arch)
    rule(stack, t, "in", "*", arch)
    start_smtpd(daemon)
    data = message(uniq)
    qid = queue_id(send(stack, SENDER, [alice, bob], data))
    [q] = queued(stack, arch)
    assert (q["tenant_id"], q["queue_id"], q["sender"], q["rcpt_state"]) == (
        t.id, qid, SENDER, "queued")
    [a] = mailbox(stack, alice)
    assert a["msg_id"] == q["msg_id"] and a["refcount"] == 3
    assert notify_of(stack, arch) == [1]  # NOTIFY=NEVER: the sender never hears of it


def test_two_rules_same_target_one_copy(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob, arch = t.user("alice"), t.user("bob"), t.user("arch")
    rule(stack, t, "in", "alice", arch)
    rule(stack, t, "in", "*", arch)
    rule(stack, t, "both", "bob", arch.upper())
    rule(stack, t, "out", "alice", arch)
    start_smtpd(daemon)
    send(stack, SENDER, [alice, bob], message(uniq))
    assert len(mailbox(stack, arch)) == 1
    s = connect(stack, "submissions")  # out and in rules of one message
    assert login(s, alice, t.passwords[alice])[0] == 235
    code, text = transaction(s, alice, [bob], message(uniq + "-sub"))
    assert code == 250, text
    s.quit()
    assert len(mailbox(stack, arch)) == 2
    send(stack, SENDER, [arch], message(uniq + "-direct"))  # a recipient itself
    assert len(mailbox(stack, arch)) == 3


def test_target_under_its_own_rule_makes_no_loop(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, arch, arch2 = t.user("alice"), t.user("arch"), t.user("arch2")
    rule(stack, t, "in", "alice", arch)
    rule(stack, t, "in", "arch", arch2)  # would copy the copy
    rule(stack, t, "in", "arch2", arch)  # ... and back
    start_smtpd(daemon)
    send(stack, SENDER, [alice], message(uniq))
    assert len(mailbox(stack, alice)) == 1
    assert len(mailbox(stack, arch)) == 1
    assert mailbox(stack, arch2) == []
    send(stack, SENDER, [arch], message(uniq + "-2"))  # arch as a recipient
    assert len(mailbox(stack, arch)) == 2 and len(mailbox(stack, arch2)) == 1
    assert len(mailbox(stack, alice)) == 1


def test_target_over_quota_is_dropped_not_bounced(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, arch, gone, keep = (t.user(u) for u in ("alice", "arch", "gone", "keep"))
    ok(mailctl("user", "set", arch, "--quota", "10"))
    for target in (arch, gone, keep):
        rule(stack, t, "in", "alice", target)
    ok(mailctl("user", "set", gone, "--status", "frozen"))
    d = start_smtpd(daemon)
    send(stack, SENDER, [alice], message(uniq))
    assert len(mailbox(stack, alice)) == 1 and len(mailbox(stack, keep)) == 1
    assert mailbox(stack, arch) == [] and mailbox(stack, gone) == []
    # no failed recipient for a DSN: the sender never learns of the copies
    assert count(stack, f"SELECT count(*) FROM queue WHERE tenant_id = {t.id}") == 0
    out = d.output()
    assert f"BCC copy for {arch} dropped" in out and f"BCC target {gone} skipped" in out

    # alice full too: the copies alone commit nothing (452, as without them)
    used = mailbox(stack, alice)[0]["size"]
    ok(mailctl("user", "set", alice, "--quota", str(used + 10)))
    s = connect(stack)
    assert s.mail(SENDER)[0] == 250
    code, _ = s.rcpt(alice)
    if code == 250:  # RCPT read a cached usage: the store decides at DATA
        code, _ = s.data(message(uniq + "-2"))
    s.quit()
    assert code == 452
    assert len(mailbox(stack, keep)) == 1 and len(mailbox(stack, alice)) == 1


def test_failing_rule_lookup_is_451(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    d = start_smtpd(daemon)
    stack.psql("ALTER TABLE bcc_rules RENAME TO bcc_rules_away")
    try:
        invalidate(stack)  # no cached rule list to fall back on
        s = connect(stack)
        code, text = transaction(s, SENDER, [alice], message(uniq))
        s.quit()
    finally:
        stack.psql("ALTER TABLE bcc_rules_away RENAME TO bcc_rules")
    assert (code, text) == (451, TEMPFAIL)
    assert mailbox(stack, alice) == []
    assert "BCC rules:" in d.output()
    send(stack, SENDER, [alice], message(uniq + "-2"))
    assert len(mailbox(stack, alice)) == 1
