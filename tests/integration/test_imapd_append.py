"""mc-imapd APPEND: flags, keywords and a date kept on the row with the
exact bytes as the blob (APPENDUID), synchronising and LITERAL+ literals,
literal8, MULTIAPPEND (all or nothing), a 3 MB message streamed, a missing
mailbox (TRYCREATE), APPENDLIMIT (TOOBIG before the literal), quota
(OVERQUOTA), a client leaving mid-literal (no row, no temp file left) and
EXISTS when appending to the selected mailbox."""
import hashlib
import imaplib
import os
import time

from imap_helpers import imapd_exits_cleanly, mail, start_imapd  # noqa: F401
from imap_helpers import Raw, deliver, imap
from smtp_helpers import (Tenant, blob, ok, sql_str, tmp_files, user_info,
                          wait_until)


def rows(stack, address, name):
    """(uid, flags, keywords, internal_date epoch, sha256, size) by UID."""
    u = user_info(stack, address)
    got = stack.psql(
        "SELECT mm.uid, mm.flags, array_to_string(mm.keywords, ' '), "
        "extract(epoch FROM mm.internal_date)::bigint, m.sha256, mm.size_bytes "
        "FROM mailbox_messages mm JOIN mailboxes mb ON mb.tenant_id = "
        "mm.tenant_id AND mb.id = mm.mailbox_id JOIN messages m ON "
        "m.tenant_id = mm.tenant_id AND m.id = mm.message_id WHERE "
        f"mb.tenant_id = {u['tenant_id']} AND mb.user_id = {u['user_id']} "
        f"AND mb.name = {sql_str(name)} ORDER BY mm.uid")
    return [(int(a), int(b), c, int(d), e, int(f)) for a, b, c, d, e, f in got]


def uidvalidity(stack, address, name):
    u = user_info(stack, address)
    return int(stack.psql("SELECT uidvalidity FROM mailboxes WHERE user_id = "
                          f"{u['user_id']} AND name = {sql_str(name)}")[0][0])


def msg(tag, size=0):
    body = (b"x" * 76 + b"\r\n") * (size // 78) if size else b"Hello.\r\n"
    return (b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
            b"Subject: " + tag.encode() + b"\r\n\r\n" + body)


def raw(stack, t, user):
    r = Raw(stack)
    r.login(user, t.passwords[user])
    return r


def test_append_flags_date_and_literals(stack, mail):
    c = imap(stack, mail, mail.alice)
    m1 = msg("sent one")
    date = imaplib.Time2Internaldate(1577872800)  # 2020-01-01 10:00 UTC
    typ, data = c.append("Sent", r"(\Seen $Work)", date, m1)
    v = uidvalidity(stack, mail.alice, "Sent")
    assert (typ, data) == ("OK", [f"[APPENDUID {v} 1] APPEND completed".encode()])
    (uid, flags, kw, when, sha, size), = rows(stack, mail.alice, "Sent")
    assert (uid, flags, kw, when, size) == (1, 1, "$Work", 1577872800, len(m1))
    assert blob(stack, sha) == m1
    c.logout()
    r = raw(stack, mail, mail.alice)
    m2, m3, m4 = msg("sync"), msg("literal plus"), msg("literal8 \0 nul")
    r.send(b"s1 APPEND Sent {%d}\r\n" % len(m2))
    assert r.line() == b"+ OK\r\n"
    r.send(m2 + b"\r\n")
    assert r.until("s1") == ([], f"s1 OK [APPENDUID {v} 2] APPEND completed\r\n".encode())
    r.send(b"s2 APPEND Sent (\\Flagged) \"01-Feb-2021 12:00:00 +0200\" {%d+}\r\n%s\r\n"
           % (len(m3), m3))
    assert r.until("s2")[1] == f"s2 OK [APPENDUID {v} 3] APPEND completed\r\n".encode()
    r.send(b"s3 APPEND Sent ~{%d+}\r\n%s\r\n" % (len(m4), m4))
    assert r.until("s3")[1] == f"s3 OK [APPENDUID {v} 4] APPEND completed\r\n".encode()
    got = rows(stack, mail.alice, "Sent")
    assert [blob(stack, g[4]) for g in got[1:]] == [m2, m3, m4]
    assert got[2][1:4] == (4, "", 1612173600)
    for bad in (r"s4 APPEND Sent (\Recent) {5+}" "\r\nhello",
                "s4 APPEND Sent (a]b) {5+}\r\nhello",
                's4 APPEND Sent "32-Jan-2021 12:00:00 +0000" {5+}\r\nhello',
                "s4 APPEND Sent {5+}\r\nhello (\\Seen)"):
        r.send(bad.encode() + b"\r\n")
        assert r.until("s4")[1].startswith(b"s4 BAD "), bad
    assert len(rows(stack, mail.alice, "Sent")) == 4
    r.close()


def test_multiappend_and_big_message(stack, mail):
    r = raw(stack, mail, mail.alice)
    ms = [msg(f"multi {i}") for i in range(3)]
    r.send(b"m1 APPEND Drafts (\\Draft) {%d+}\r\n%s (\\Seen) {%d+}\r\n%s {%d}\r\n"
           % (len(ms[0]), ms[0], len(ms[1]), ms[1], len(ms[2])))
    assert r.line() == b"+ OK\r\n"
    r.send(ms[2] + b"\r\n")
    v = uidvalidity(stack, mail.alice, "Drafts")
    assert r.until("m1") == ([], f"m1 OK [APPENDUID {v} 1:3] APPEND completed\r\n".encode())
    got = rows(stack, mail.alice, "Drafts")
    assert [(g[0], g[1]) for g in got] == [(1, 16), (2, 1), (3, 0)]
    assert [blob(stack, g[4]) for g in got] == ms
    # 3 MB, streamed through the blob writer
    big = msg("big", 3 * 1024 * 1024)
    r.send(b"m2 APPEND INBOX {%d+}\r\n" % len(big))
    for i in range(0, len(big), 256 * 1024):
        r.send(big[i:i + 256 * 1024])
    r.send(b"\r\n")
    assert r.until("m2")[1].startswith(b"m2 OK [APPENDUID ")
    (_, _, _, _, sha, size), = rows(stack, mail.alice, "INBOX")
    assert (sha, size) == (hashlib.sha256(big).hexdigest(), len(big))
    assert blob(stack, sha) == big
    r.close()


def test_missing_mailbox_and_selected(stack, mail):
    deliver(stack, mail.alice)
    c = imap(stack, mail, mail.alice)
    typ, data = c.append("Nowhere", None, None, msg("lost"))
    assert (typ, data) == ("NO", [b"[TRYCREATE] No such mailbox"])
    typ, data = c.select("INBOX")
    assert data == [b"1"]
    typ, data = c.append("INBOX", None, None, msg("here"))
    assert typ == "OK"
    assert c.untagged_responses.get("EXISTS", [None])[-1] == b"2"
    c.logout()


def test_quota(stack, mail, mailctl):
    used = user_info(stack, mail.alice)["used"]
    ok(mailctl("user", "set", mail.alice, "--quota", str(used + 3000)))
    r = raw(stack, mail, mail.alice)
    small, large = msg("fits", 1500), msg("too big", 4000)
    r.send(b"q1 APPEND INBOX {%d+}\r\n%s\r\n" % (len(large), large))
    assert r.until("q1")[1] == b"q1 NO [OVERQUOTA] Quota exceeded\r\n"
    # MULTIAPPEND: the first fits, both do not: neither is stored
    r.send(b"q2 APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s\r\n"
           % (len(small), small, len(small), small))
    assert r.until("q2")[1] == b"q2 NO [OVERQUOTA] Quota exceeded\r\n"
    assert rows(stack, mail.alice, "INBOX") == []
    r.send(b"q3 APPEND INBOX {%d+}\r\n%s\r\n" % (len(small), small))
    assert r.until("q3")[1].startswith(b"q3 OK [APPENDUID ")
    r.close()


def test_client_leaves_mid_literal(stack, mail):
    r = raw(stack, mail, mail.alice)
    r.send(b"d1 APPEND INBOX {2000000+}\r\n" + b"y" * 700000)
    time.sleep(0.3)
    r.f.close()  # (the socket stays open while its file object does)
    r.close()
    assert wait_until(lambda: not tmp_files(stack), 5), tmp_files(stack)
    assert rows(stack, mail.alice, "INBOX") == []
    assert wait_until(lambda: "disconnected" in mail.imapd.output(), 5)


def test_appendlimit(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_imapd(daemon, MAILCORE_IMAPD_MAX_APPEND="100k")
    r = raw(stack, t, alice)
    caps = r.command("CAPABILITY")[0][0]
    assert b" APPENDLIMIT=102400" in caps
    r.send(b"l1 APPEND INBOX {102401}\r\n")
    assert r.line().startswith(b"l1 NO [TOOBIG] ")
    # the connection is still in step: no literal was read
    m = msg("under the limit")
    r.send(b"l2 APPEND INBOX {%d+}\r\n%s\r\n" % (len(m), m))
    assert r.until("l2")[1].startswith(b"l2 OK [APPENDUID ")
    # a later message of a MULTIAPPEND over the limit: nothing stored
    r.send(b"l3 APPEND INBOX {%d+}\r\n%s {200000}\r\n" % (len(m), m))
    assert r.until("l3")[1].startswith(b"l3 NO [TOOBIG]")
    # each under the limit, together over it
    half = msg("half", 60000)
    r.send(b"l4 APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s\r\n"
           % (len(half), half, len(half), half))
    assert r.until("l4")[1] == b"l4 NO [TOOBIG] Messages too large together\r\n"
    assert r.command("NOOP")[1].endswith(b" OK NOOP completed\r\n")
    assert len(rows(stack, alice, "INBOX")) == 1
    r.close()
    assert os.path.isdir(os.path.join(stack.state, "blobs"))

