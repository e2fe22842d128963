"""The session of a desktop client (what Thunderbird does, step by step,
over raw IMAP so every response is checked): capabilities, ENABLE
QRESYNC, LIST with special use and status, SELECT with QRESYNC, FETCH of
flags, headers and BODYSTRUCTURE, flag changes, MOVE to Trash, EXPUNGE,
APPEND to Sent, and a reconnect resynchronising from the saved MODSEQ
while a second session changed things meanwhile."""
import re

from imap_helpers import Raw, deliver, mail  # noqa: F401
from imap_helpers import imapd_exits_cleanly  # noqa: F401 (autouse)


def test_desktop_client_session(mail, stack):
    for i in range(4):
        deliver(stack, mail.alice, f"message {i}",
                headers=[f"X-Seq: {i}"])
    r = Raw(stack, "imaps")
    assert b"AUTH=PLAIN" in r.greeting
    r.login(mail.alice, mail.passwords[mail.alice])
    lines, _ = r.command("ENABLE QRESYNC")
    assert lines == [b"* ENABLED QRESYNC\r\n"]
    lines, _ = r.command('LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES UNSEEN))')
    assert any(l.startswith(b"* LIST (\\HasNoChildren \\Trash)") for l in lines)
    lines, _ = r.command('LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))')
    assert re.match(rb"\* STATUS INBOX \(MESSAGES 4 UIDNEXT 5 UNSEEN 4\)", lines[1]), lines
    lines, tagged = r.command("SELECT INBOX (CONDSTORE)")
    text = b"".join(lines)
    validity = int(re.search(rb"UIDVALIDITY (\d+)", text).group(1))
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", text).group(1))
    assert b"* 4 EXISTS" in text and b"READ-WRITE" in tagged
    # the message list: flags, size, envelope-ish headers, structure
    lines, tagged = r.command(
        "UID FETCH 1:* (UID RFC822.SIZE FLAGS BODYSTRUCTURE "
        "BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID X-SEQ)])")
    assert b"OK" in tagged
    fetches = [l for l in lines if re.match(rb"\* \d+ FETCH", l)]
    assert len(fetches) == 4
    assert b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT"' in lines[0]
    assert b"Subject: message 0" in b"".join(lines)
    # reading a message sets \Seen; flagging; answering
    lines, _ = r.command("UID FETCH 1 (BODY[])")
    assert b"\\Seen" in b"".join(lines)
    lines, _ = r.command("UID STORE 2 +FLAGS (\\Flagged $Label1)")
    assert re.search(rb"\* 2 FETCH \(.*FLAGS \(.*\\Flagged.*\$Label1.*\).*MODSEQ",
                     b"".join(lines)), lines
    # delete = MOVE to Trash
    lines, tagged = r.command("UID MOVE 3 Trash")
    text = b"".join(lines)
    assert b"[COPYUID " in text and b"* VANISHED 3" in text and b"OK" in tagged
    # and one expunged for good
    r.command("UID STORE 4 +FLAGS.SILENT (\\Deleted)")
    lines, _ = r.command("UID EXPUNGE 4")
    assert b"* VANISHED 4\r\n" in lines
    # a sent message is appended to Sent
    msg = b"From: alice\r\nSubject: sent copy\r\n\r\nhello\r\n"
    r.send(f"s1 APPEND Sent (\\Seen) {{{len(msg)}}}\r\n")
    assert r.line().startswith(b"+")
    r.send(msg + b"\r\n")
    _, tagged = r.until("s1")
    assert b"[APPENDUID " in tagged
    lines, _ = r.command("STATUS Sent (MESSAGES UNSEEN)")
    assert lines == [b"* STATUS Sent (MESSAGES 1 UNSEEN 0)\r\n"]
    lines, _ = r.command("STATUS Trash (MESSAGES)")
    assert lines == [b"* STATUS Trash (MESSAGES 1)\r\n"]
    r.command("LOGOUT")
    r.close()

    # meanwhile another device flags message 1 and a new message arrives
    other = Raw(stack)
    other.login(mail.alice, mail.passwords[mail.alice])
    other.command("SELECT INBOX")
    other.command("UID STORE 1 +FLAGS (\\Answered)")
    other.command("LOGOUT")
    other.close()
    deliver(stack, mail.alice, "while away")

    # reconnect and resynchronise from the saved state
    r = Raw(stack, "imaps")
    r.login(mail.alice, mail.passwords[mail.alice])
    r.command("ENABLE QRESYNC")
    lines, tagged = r.command(f"SELECT INBOX (QRESYNC ({validity} {modseq}))")
    text = b"".join(lines)
    assert b"* VANISHED (EARLIER) 3:4\r\n" in lines, lines
    assert re.search(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Seen \\Answered\) MODSEQ", text), lines
    assert b"* 3 EXISTS" in text  # 1, 2 and the new one
    lines, _ = r.command("UID FETCH 5 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"while away" in b"".join(lines)
    r.command("LOGOUT")
    r.close()
