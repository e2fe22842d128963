"""mc-imapd changing messages: STORE / UID STORE (FLAGS, +FLAGS, -FLAGS,
.SILENT, keywords, refused flags, UNCHANGEDSINCE with MODIFIED and MODSEQ
under CONDSTORE), the change seen by a second session, COPY with COPYUID
keeping flags, COPY to a missing mailbox (TRYCREATE) and over quota
(OVERQUOTA), and MOVE (COPYUID, EXPUNGE, the rows moved, usage kept), on
mail delivered through the real mc-smtpd."""
import re

from imap_helpers import imapd_exits_cleanly, mail  # noqa: F401 (fixtures)
from imap_helpers import Raw, deliver, imap
from smtp_helpers import ok, sql_str, user_info

SEEN, ANSWERED, FLAGGED, DELETED = 1, 2, 4, 8


def rows(stack, address, name="INBOX"):
    """(uid, flags, keywords, modseq) of a mailbox's messages by UID."""
    u = user_info(stack, address)
    got = stack.psql(
        "SELECT mm.uid, mm.flags, array_to_string(mm.keywords, ' '), mm.modseq "
        "FROM mailbox_messages mm JOIN mailboxes mb ON mb.tenant_id = "
        f"mm.tenant_id AND mb.id = mm.mailbox_id WHERE mb.tenant_id = "
        f"{u['tenant_id']} AND mb.user_id = {u['user_id']} AND mb.name = "
        f"{sql_str(name)} ORDER BY mm.uid")
    return [(int(a), int(b), c, int(d)) for a, b, c, d in got]


def session(stack, mail, box="INBOX", condstore=False):
    """A Raw client of alice with box selected."""
    r = Raw(stack)
    r.login(mail.alice, mail.passwords[mail.alice])
    _, tagged = r.command(f"SELECT {box}" + (" (CONDSTORE)" if condstore else ""))
    assert b" OK " in tagged, tagged
    return r


def three(stack, mail):
    for i in range(3):
        deliver(stack, mail.alice, subject=f"message {i}")


def test_store_forms(stack, mail):
    three(stack, mail)
    r = session(stack, mail)
    assert r.command(r"STORE 1 +FLAGS (\Seen \Flagged)") == (
        [rb"* 1 FETCH (FLAGS (\Seen \Flagged))" + b"\r\n"], b"a3 OK STORE completed\r\n")
    assert r.command(r"STORE 1 -FLAGS (\Flagged)")[0] == [rb"* 1 FETCH (FLAGS (\Seen))" + b"\r\n"]
    # a bare flag sequence, keywords, UID STORE says the UID
    assert r.command(r"UID STORE 2 FLAGS \Answered $Label1 Work")[0] == [
        rb"* 2 FETCH (UID 2 FLAGS (\Answered $Label1 Work))" + b"\r\n"]
    # .SILENT: nothing untagged
    assert r.command(r"STORE 2:3 +FLAGS.SILENT (\Deleted)") == ([], b"a6 OK STORE completed\r\n")
    # no change: no FETCH
    assert r.command(r"STORE 1 +FLAGS (\Seen)")[0] == []
    got = rows(stack, mail.alice)
    assert [(u, f, k) for u, f, k, _ in got] == [
        (1, SEEN, ""), (2, ANSWERED | DELETED, "$Label1 Work"), (3, DELETED, "")]
    for bad in (r"STORE 1 +FLAGS (\Recent)", r"STORE 1 FLAGS (\Bogus)",
                'STORE 1 +FLAGS ("quoted")', "STORE 1 +FLAGS (a]b)",
                r"STORE 1 XFLAGS (\Seen)", "STORE 1 +FLAGS"):
        assert re.match(rb"a\d+ BAD ", r.command(bad)[1]), bad
    assert rows(stack, mail.alice) == got
    # a second session sees the change at its next NOOP
    other = session(stack, mail)
    assert r.command(r"STORE 3 -FLAGS (\Deleted)")[0] == [rb"* 3 FETCH (FLAGS ())" + b"\r\n"]
    assert other.command("NOOP")[0] == [rb"* 3 FETCH (UID 3 FLAGS ())" + b"\r\n"]
    # read-only
    _, tagged = other.command("EXAMINE INBOX")
    assert b"READ-ONLY" in tagged
    assert other.command(r"STORE 1 +FLAGS (\Flagged)")[1].startswith(b"a5 NO [READ-ONLY]")
    r.close(), other.close()


def test_store_unchangedsince(stack, mail):
    three(stack, mail)
    r = session(stack, mail, condstore=True)
    m = {u: ms for u, _, _, ms in rows(stack, mail.alice)}
    r.command(r"STORE 2 +FLAGS.SILENT (\Answered)")  # 2 moves past m[1]
    untagged, tagged = r.command(rf"STORE 1:3 (UNCHANGEDSINCE {m[1]}) +FLAGS (\Seen)")
    new = rows(stack, mail.alice)
    assert untagged == [rb"* 1 FETCH (FLAGS (\Seen) MODSEQ (%d))" % new[0][3] + b"\r\n"]
    assert tagged == b"a4 OK [MODIFIED 2:3] Conditional STORE failed\r\n"
    assert [f for _, f, _, _ in new] == [SEEN, ANSWERED, 0]
    # under CONDSTORE .SILENT still says the MODSEQ; UID STORE the UID
    untagged, tagged = r.command(
        rf"UID STORE 3 (UNCHANGEDSINCE {new[2][3]}) +FLAGS.SILENT (\Flagged)")
    assert untagged == [b"* 3 FETCH (UID 3 MODSEQ (%d))\r\n" % rows(stack, mail.alice)[2][3]]
    assert tagged == b"a5 OK STORE completed\r\n"
    assert r.command(r"UID STORE 1:3 (UNCHANGEDSINCE 0) FLAGS ()")[1] == (
        b"a6 OK [MODIFIED 1:3] Conditional STORE failed\r\n")
    r.close()


def test_copy_and_missing_mailbox(stack, mail):
    three(stack, mail)
    r = session(stack, mail)
    r.command(r"STORE 2 +FLAGS.SILENT (\Flagged $Job)")
    untagged, tagged = r.command("COPY 2:3 Archive")
    v = stack.psql("SELECT uidvalidity FROM mailboxes WHERE name = 'Archive' AND "
                   f"user_id = {user_info(stack, mail.alice)['user_id']}")[0][0]
    assert tagged == f"a4 OK [COPYUID {v} 2:3 1:2] COPY completed\r\n".encode()
    assert [(u, f, k) for u, f, k, _ in rows(stack, mail.alice, "Archive")] == [
        (1, FLAGGED, "$Job"), (2, 0, "")]
    assert len(rows(stack, mail.alice)) == 3
    assert r.command("UID COPY 1 Archive")[1].startswith(
        f"a5 OK [COPYUID {v} 1 3]".encode())
    assert r.command("COPY 1 Nowhere")[1] == b"a6 NO [TRYCREATE] No such mailbox\r\n"
    assert r.command("MOVE 1 Nowhere")[1] == b"a7 NO [TRYCREATE] No such mailbox\r\n"
    assert len(rows(stack, mail.alice)) == 3
    r.close()


def test_move_to_trash(stack, mail):
    three(stack, mail)
    used = user_info(stack, mail.alice)["used"]
    r = session(stack, mail)
    other = session(stack, mail)
    untagged, tagged = r.command("MOVE 1:2 Trash")
    v = stack.psql("SELECT uidvalidity FROM mailboxes WHERE name = 'Trash' AND "
                   f"user_id = {user_info(stack, mail.alice)['user_id']}")[0][0]
    assert untagged == [f"* OK [COPYUID {v} 1:2 1:2] Moved\r\n".encode(),
                        b"* 2 EXPUNGE\r\n", b"* 1 EXPUNGE\r\n"]
    assert tagged == b"a3 OK MOVE completed\r\n"
    assert [u for u, *_ in rows(stack, mail.alice)] == [3]
    assert [u for u, *_ in rows(stack, mail.alice, "Trash")] == [1, 2]
    assert user_info(stack, mail.alice)["used"] == used
    # the session's numbers follow: message 1 is now UID 3
    assert r.command(r"STORE 1 +FLAGS (\Seen)")[0] == [rb"* 1 FETCH (FLAGS (\Seen))" + b"\r\n"]
    assert rows(stack, mail.alice)[0][1] == SEEN
    # the other session learns of the expunges
    assert b"* 1 EXPUNGE\r\n" in other.command("NOOP")[0]
    # imaplib agrees
    c = imap(stack, mail, mail.alice)
    c.select("Trash")
    typ, data = c.uid("MOVE", "2", "INBOX")
    assert typ == "OK", data
    assert [u for u, *_ in rows(stack, mail.alice, "Trash")] == [1]
    c.logout()
    # QRESYNC: VANISHED instead of EXPUNGE
    q = Raw(stack)
    q.login(mail.alice, mail.passwords[mail.alice])
    q.command("ENABLE QRESYNC")
    q.command("SELECT INBOX")
    untagged, tagged = q.command("UID MOVE 3:4 Archive")
    assert untagged[1:] == [b"* VANISHED 3:4\r\n"], untagged
    assert tagged.endswith(b" OK MOVE completed\r\n")
    r.close(), other.close(), q.close()


def test_copy_over_quota(stack, mail, mailctl):
    three(stack, mail)
    used = user_info(stack, mail.alice)["used"]
    ok(mailctl("user", "set", mail.alice, "--quota", str(used + 10)))
    r = session(stack, mail)
    assert r.command("COPY 1:3 Archive")[1] == b"a3 NO [OVERQUOTA] Quota exceeded\r\n"
    assert rows(stack, mail.alice, "Archive") == []
    # a MOVE takes no more room: allowed
    assert r.command("MOVE 1 Archive")[1] == b"a4 OK MOVE completed\r\n"
    assert user_info(stack, mail.alice)["used"] == used
    r.close()
