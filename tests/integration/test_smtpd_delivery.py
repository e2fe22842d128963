"""mc-smtpd on the MX port storing mail: what a client sees (reply codes,
enhanced codes) and what is kept (mailbox rows with UIDs 1, 2..., one
content-addressed message row and blob per tenant, usage counters, the
outbound queue), through aliases, domain aliases, catch-alls, "+detail"
and forwards; refusals for unknown, frozen and disabled addresses; quotas
and size limits."""
import re

from smtp_helpers import smtpd_exits_cleanly  # noqa: F401 (autouse fixture)
from smtp_helpers import (HELO, RECEIVED_DATE, Tenant, assert_usage, blob_files,
                          blob_path, connect, count, mailbox, message, ok,
                          queue_id, queued, send, start_smtpd, stored, swaks,
                          tmp_files, transaction, wait_until)

SENDER = "sender@example.org"


def received_re(rcpt=None, proto=b"ESMTP", ip=b"127.0.0.1"):
    """Our Received: header for a plain session from HELO."""
    return (rb"Received: from " + re.escape(HELO.encode()) + rb" \(\[" +
            re.escape(ip) + rb"\]\)\r\n\tby mail\.demo\.test \(mailcore\) with " +
            proto + rb" id (\w+)" +
            (rb"\r\n\tfor <" + re.escape(rcpt.encode()) + rb">" if rcpt else b"") +
            rb"; " + RECEIVED_DATE + rb"\r\n")


def nothing_stored(stack, tenant):
    assert count(stack, "SELECT count(*) FROM mailbox_messages WHERE tenant_id = "
                 f"{tenant.id}") == 0
    assert count(stack, f"SELECT count(*) FROM messages WHERE tenant_id = {tenant.id}") == 0
    assert count(stack, f"SELECT count(*) FROM queue WHERE tenant_id = {tenant.id}") == 0


# -- 1. delivery ----------------------------------------------------------

def test_delivery_stores_blob_rows_and_received_header(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    first = message(uniq)
    qid = queue_id(send(stack, SENDER, [alice], first))
    [row] = mailbox(stack, alice)
    assert (row["uid"], row["refcount"]) == (1, 1)
    data = stored(stack, row, first)
    m = re.match(received_re(alice), data)
    assert m, data[:300]
    assert m.group(1).decode() == qid
    assert data[m.end():] == first
    assert count(stack, f"SELECT count(*) FROM queue WHERE queue_id = '{qid}'") == 0

    second = message(uniq + "-2", subject="again")
    send(stack, SENDER, [alice], second)
    rows = mailbox(stack, alice)
    assert [r["uid"] for r in rows] == [1, 2]
    assert rows[1]["modseq"] > rows[0]["modseq"]
    assert rows[1]["msg_id"] != rows[0]["msg_id"]
    stored(stack, rows[1], second)
    assert assert_usage(stack, alice) == rows[0]["size"] + rows[1]["size"]
    assert stack.psql("SELECT uidnext, messages FROM mailboxes WHERE id = "
                      f"{rows[0]['mailbox_id']}") == [["3", "2"]]


def test_delivery_with_swaks(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    r = swaks(stack, "--from", SENDER, "--to", alice, "--data",
              f"Subject: swaks {uniq}\\nX-Test: yes\\n\\nline one\\nline two")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert re.search(r"<-  250 2\.0\.0 OK: queued as \w+", out), out
    [row] = mailbox(stack, alice)
    assert row["uid"] == 1
    body = f"Subject: swaks {uniq}\r\nX-Test: yes\r\n\r\nline one\r\nline two\r\n"
    data = stored(stack, row, body.encode())
    assert re.match(received_re(alice), data), data[:300]


def test_one_message_to_two_users_is_stored_once(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    start_smtpd(daemon)
    before = blob_files(stack)
    data = message(uniq)
    send(stack, SENDER, [alice, bob], data)
    [a], [b] = mailbox(stack, alice), mailbox(stack, bob)
    assert a["uid"] == b["uid"] == 1
    assert a["msg_id"] == b["msg_id"] and a["refcount"] == 2
    assert count(stack, f"SELECT count(*) FROM messages WHERE tenant_id = {t.id}") == 1
    assert blob_files(stack) - before == {blob_path(stack, a["sha256"])}
    blob = stored(stack, a, data)
    assert re.match(received_re(None), blob), blob[:300]  # no "for" with two
    assert assert_usage(stack, alice) == assert_usage(stack, bob) == a["size"]
    assert count(stack, f"SELECT sum(used_bytes) FROM domain_usage WHERE tenant_id = {t.id}") \
        == 2 * a["size"]


# -- 2. routing -----------------------------------------------------------

def test_mailbox_alias(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    ok(mailctl("alias", "add", f"info@{t.domain}", alice))
    start_smtpd(daemon)
    data = message(uniq)
    send(stack, SENDER, [f"info@{t.domain}"], data)
    [row] = mailbox(stack, alice)
    blob = stored(stack, row, data)
    assert re.match(received_re(f"info@{t.domain}"), blob)


def test_group_alias_with_external_member(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    ext = f"ext-{uniq}@elsewhere.example"
    ok(mailctl("alias", "add", f"team@{t.domain}", alice, ext))
    start_smtpd(daemon)
    data = message(uniq)
    qid = queue_id(send(stack, SENDER, [f"team@{t.domain}"], data))
    [row] = mailbox(stack, alice)
    stored(stack, row, data)
    [q] = queued(stack, ext)
    assert (q["tenant_id"], q["queue_id"], q["sender"], q["state"], q["rcpt_state"],
            q["auth_user"], q["client_ip"]) == (
        t.id, qid, SENDER, "queued", "queued", "", "127.0.0.1")
    assert q["msg_id"] == row["msg_id"] and q["size"] == row["size"]
    assert row["refcount"] == 2  # the mailbox row and the queue entry


def test_domain_alias(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    old = f"old-{uniq}.example"
    ok(mailctl("domain", "alias", old, t.domain))
    start_smtpd(daemon)
    data = message(uniq)
    send(stack, SENDER, [f"alice@{old}"], data)
    [row] = mailbox(stack, alice)
    assert re.match(received_re(f"alice@{old}"), stored(stack, row, data))


def test_catchall(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    ok(mailctl("domain", "set", t.domain, "--catchall", alice))
    start_smtpd(daemon)
    data = message(uniq)
    send(stack, SENDER, [f"nobody-{uniq}@{t.domain}"], data)
    [row] = mailbox(stack, alice)
    stored(stack, row, data)
    send(stack, SENDER, [bob], message(uniq + "-bob"))  # real users still win
    assert len(mailbox(stack, bob)) == 1 and len(mailbox(stack, alice)) == 1


def test_plus_detail_goes_to_the_user(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    data = message(uniq)
    send(stack, SENDER, [f"alice+news@{t.domain}"], data)
    [row] = mailbox(stack, alice)
    assert re.match(received_re(f"alice+news@{t.domain}"), stored(stack, row, data))


def test_forward_keeping_a_copy(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    fwd = f"fwd-{uniq}@elsewhere.example"
    ok(mailctl("user", "set", alice, "--forward", fwd))
    start_smtpd(daemon)
    data = message(uniq)
    send(stack, SENDER, [alice], data)
    [row] = mailbox(stack, alice)
    stored(stack, row, data)
    [q] = queued(stack, fwd)
    assert (q["tenant_id"], q["rcpt_state"], q["msg_id"]) == (t.id, "queued", row["msg_id"])
    assert row["refcount"] == 2


def test_forward_without_a_copy(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    fwd = f"fwd-{uniq}@elsewhere.example"
    ok(mailctl("user", "set", alice, "--forward", f"{bob},{fwd}", "--keep-copy", "no"))
    start_smtpd(daemon)
    data = message(uniq)
    send(stack, SENDER, [alice], data)
    assert mailbox(stack, alice) == []
    assert assert_usage(stack, alice) == 0
    [row] = mailbox(stack, bob)
    stored(stack, row, data)
    [q] = queued(stack, fwd)
    assert (q["tenant_id"], q["rcpt_state"], q["msg_id"]) == (t.id, "queued", row["msg_id"])
    assert row["refcount"] == 2


# -- 3. refusals ------------------------------------------------------------

def test_unknown_user_is_550_5_1_1(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    t.user("alice")
    start_smtpd(daemon)
    s = connect(stack)
    assert s.mail(SENDER)[0] == 250
    nobody = f"nobody@{t.domain}"
    assert s.rcpt(nobody) == (
        550, f"5.1.1 <{nobody}>: Recipient address rejected: no such user here".encode())
    assert s.docmd("DATA") == (554, b"5.5.1 No valid recipients")
    s.quit()
    nothing_stored(stack, t)


def test_frozen_user_is_550_5_2_1(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    bob = t.user("bob")
    ok(mailctl("user", "set", bob, "--status", "frozen"))
    start_smtpd(daemon)
    s = connect(stack)
    assert s.mail(SENDER)[0] == 250
    assert s.rcpt(bob) == (
        550, f"5.2.1 <{bob}>: mailbox disabled, not accepting messages".encode())
    s.quit()
    nothing_stored(stack, t)


def test_suspended_and_expired_domains_are_550_5_2_1(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    ok(mailctl("domain", "set", t.domain, "--status", "suspended"))
    exp = Tenant(stack, mailctl, "e" + uniq)
    bob = exp.user("bob")
    ok(mailctl("domain", "set", exp.domain, "--status", "expired"))
    old = Tenant(stack, mailctl, "o" + uniq)
    carl = old.user("carl")
    ok(mailctl("domain", "set", old.domain, "--expires", "2020-01-01"))
    start_smtpd(daemon)
    s = connect(stack)
    assert s.mail(SENDER)[0] == 250
    suspended = s.rcpt(alice)
    assert suspended == (
        550, f"5.2.1 <{alice}>: domain suspended, not accepting messages".encode())
    expired = "domain expired, not accepting messages"
    assert s.rcpt(bob) == (550, f"5.2.1 <{bob}>: {expired}".encode())
    assert s.rcpt(carl) == (550, f"5.2.1 <{carl}>: {expired}".encode())
    s.quit()
    for x in (t, exp, old):
        nothing_stored(stack, x)


def test_directory_change_applies_to_the_next_message(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    s = connect(stack)
    assert transaction(s, SENDER, [alice], message(uniq))[0] == 250
    ok(mailctl("user", "set", alice, "--status", "frozen"))
    assert s.mail(SENDER)[0] == 250
    assert s.rcpt(alice) == (
        550, f"5.2.1 <{alice}>: mailbox disabled, not accepting messages".encode())
    assert s.rset()[0] == 250
    ok(mailctl("user", "set", alice, "--status", "active"))
    assert transaction(s, SENDER, [alice], message(uniq + "-3"))[0] == 250
    s.quit()
    assert [r["uid"] for r in mailbox(stack, alice)] == [1, 2]


# -- 4. quota ---------------------------------------------------------------

def big(tag, size):
    """A message of about size bytes."""
    line = b"x" * 76 + b"\r\n"
    return message(tag, body=line * (size // len(line) + 1))


def test_quota_full_mailbox_452_and_permanent_552(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    start_smtpd(daemon)
    send(stack, SENDER, [alice], message(uniq))
    [row] = mailbox(stack, alice)
    used = row["size"]

    # Room for a byte at RCPT, not for the message at the end of DATA.
    ok(mailctl("user", "set", alice, "--quota", str(used + 100)))
    s = connect(stack)
    code, text = transaction(s, SENDER, [alice], big(uniq + "-big", 2000))
    assert (code, text) == (452, b"4.2.2 Mailbox full, over storage quota")

    # Full: refused at RCPT, while bob (no quota) still gets the message.
    ok(mailctl("user", "set", alice, "--quota", str(used)))
    full = f"<{alice}>: Mailbox full, over storage quota".encode()
    assert s.mail(SENDER)[0] == 250
    assert s.rcpt(alice) == (452, b"4.2.2 " + full)
    assert s.rcpt(bob)[0] == 250
    assert s.data(message(uniq + "-bob"))[0] == 250

    ok(mailctl("domain", "set", t.domain, "--quota-permanent", "yes"))
    assert s.mail(SENDER)[0] == 250
    assert s.rcpt(alice) == (552, b"5.2.2 " + full)
    assert s.rset()[0] == 250
    ok(mailctl("user", "set", alice, "--quota", str(used + 100)))
    code, text = transaction(s, SENDER, [alice], big(uniq + "-big2", 2000))
    assert (code, text) == (552, b"5.2.2 Mailbox full, over storage quota")
    s.quit()

    assert mailbox(stack, alice) == [row]
    assert assert_usage(stack, alice) == used
    assert len(mailbox(stack, bob)) == 1
    assert count(stack, f"SELECT count(*) FROM messages WHERE tenant_id = {t.id}") == 2


def test_mail_size_over_quota_is_refused_at_rcpt(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    ok(mailctl("user", "set", alice, "--quota", "10k"))
    start_smtpd(daemon)
    s = connect(stack)
    assert s.mail(SENDER, ["SIZE=20000"]) == (250, b"2.1.0 Sender OK")
    assert s.rcpt(alice) == (
        452, f"4.2.2 <{alice}>: Mailbox full, over storage quota".encode())
    assert s.rcpt(bob)[0] == 250
    assert s.rset()[0] == 250
    data = message(uniq)
    assert transaction(s, SENDER, [alice], data, mail_options=["SIZE=2000"])[0] == 250
    s.quit()
    [row] = mailbox(stack, alice)
    stored(stack, row, data)
    assert assert_usage(stack, alice) == row["size"]


# -- 5. size limits ---------------------------------------------------------

def test_size_above_max_message_size_is_refused_at_mail(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon, MAILCORE_SMTPD_MAX_MESSAGE_SIZE="100k")
    s = connect(stack)
    assert s.esmtp_features["size"] == "102400"
    assert s.mail(SENDER, ["SIZE=102401"]) == (
        552, b"5.3.4 Message size exceeds fixed maximum message size")
    assert s.mail(SENDER, ["SIZE=102400"])[0] == 250
    assert s.rcpt(alice)[0] == 250
    s.quit()


def test_message_above_max_message_size_is_refused_after_data(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon, MAILCORE_SMTPD_MAX_MESSAGE_SIZE="100k")
    before = blob_files(stack)
    s = connect(stack)
    code, text = transaction(s, SENDER, [alice], big(uniq, 150 * 1024))
    assert (code, text) == (552, b"5.3.4 Message size exceeds fixed maximum message size")
    assert mailbox(stack, alice) == []
    nothing_stored(stack, t)
    assert blob_files(stack) == before
    assert wait_until(lambda: tmp_files(stack) == [], 3), tmp_files(stack)
    data = message(uniq + "-small")  # the session goes on
    assert transaction(s, SENDER, [alice], data)[0] == 250
    s.quit()
    [row] = mailbox(stack, alice)
    assert row["uid"] == 1
    stored(stack, row, data)


def test_domain_max_message_size(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    ok(mailctl("domain", "set", t.domain, "--max-message-size", "2k"))
    start_smtpd(daemon)
    s = connect(stack)
    assert s.mail(SENDER, ["SIZE=3000"])[0] == 250
    assert s.rcpt(alice) == (
        552, f"5.3.4 <{alice}>: Message size exceeds the recipient's limit".encode())
    assert s.rset()[0] == 250
    code, text = transaction(s, SENDER, [alice], big(uniq, 3000))
    assert (code, text) == (552, b"5.3.4 Message size exceeds the recipient's limit")
    nothing_stored(stack, t)
    data = message(uniq + "-small")
    assert transaction(s, SENDER, [alice], data)[0] == 250
    s.quit()
    [row] = mailbox(stack, alice)
    stored(stack, row, data)


def test_huge_text_body_is_stored_and_searchable(stack, mailctl, daemon, uniq):
    """5 MB of text (random words, base64-encoded text/plain) fits: the
    search text is cut to what PostgreSQL's tsvector holds."""
    import base64
    import random
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    rnd = random.Random(7)
    words = " ".join("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz")
                             for _ in range(rnd.randint(3, 12)))
                     for _ in range(700000)).encode()[:5 * 1024 * 1024]
    body = base64.encodebytes(b"needle " + words).replace(b"\n", b"\r\n")
    data = (b"From: <a@example.org>\r\nSubject: big\r\nContent-Type: text/plain\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + body)
    send(stack, SENDER, [alice], data)
    [row] = mailbox(stack, alice)
    stored(stack, row, data)
    assert count(stack, "SELECT count(*) FROM messages WHERE search @@ "
                 f"to_tsquery('simple', 'needle') AND tenant_id = {t.id}") == 1
