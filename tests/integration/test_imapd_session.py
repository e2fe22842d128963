"""mc-imapd sessions with real clients (Python's imaplib, raw sockets):
greeting and capabilities, logins (LOGIN, AUTHENTICATE PLAIN with and
without SASL-IR, STARTTLS, IMAPS, wrong passwords, plaintext refused),
ID, ENABLE, the mailbox list and its changes (LIST variants, CREATE,
DELETE, RENAME, SUBSCRIBE, STATUS, NAMESPACE, quota), SELECT / EXAMINE
with CONDSTORE and QRESYNC, EXPUNGE / CLOSE / UNSELECT, IDLE seeing mail
delivered by mc-smtpd, COMPRESS, bad input, and outages."""
import base64
import imaplib
import re
import socket
import time
import zlib

import pytest

from imap_helpers import Raw, deliver, imap, mail, start_imapd, stopped  # noqa: F401
from smtp_helpers import Tenant, tls_context, wait_until


def test_greeting_capabilities_and_logout(mail, stack):
    r = Raw(stack)
    assert r.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 ")
    assert b"STARTTLS" in r.greeting and b"AUTH=PLAIN" in r.greeting
    lines, tagged = r.command("CAPABILITY")
    assert tagged.split()[1] == b"OK" and lines[0].startswith(b"* CAPABILITY ")
    assert b"IDLE" not in lines[0]  # only after login
    r.login(mail.alice, mail.passwords[mail.alice])
    lines, _ = r.command("CAPABILITY")
    for cap in (b"IDLE", b"UIDPLUS", b"MOVE", b"CONDSTORE", b"QRESYNC", b"ESEARCH",
                b"SPECIAL-USE", b"LIST-STATUS", b"QUOTA", b"COMPRESS=DEFLATE",
                b"APPENDLIMIT=", b"SORT", b"THREAD=REFERENCES"):
        assert cap in lines[0], cap
    lines, tagged = r.command("LOGOUT")
    assert lines == [b"* BYE Logging out\r\n"] and tagged.split()[1] == b"OK"
    assert r.f.read() == b""


def test_login_wrong_password_pauses_and_fails(mail, stack):
    c = imaplib.IMAP4("127.0.0.1", stack.port("imap"), timeout=15)
    t = time.monotonic()
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login(mail.alice, "wrong")
    assert time.monotonic() - t >= 0.9
    assert "AUTHENTICATIONFAILED" in str(e.value)
    with pytest.raises(imaplib.IMAP4.error):
        c.login("nobody@" + mail.domain, "x")
    assert c.login(mail.alice, mail.passwords[mail.alice])[0] == "OK"
    c.logout()


def test_frozen_user_cannot_log_in(mail, stack, mailctl):
    mailctl("user", "set", mail.bob, "--status", "frozen")
    c = imaplib.IMAP4("127.0.0.1", stack.port("imap"), timeout=15)
    with pytest.raises(imaplib.IMAP4.error):
        c.login(mail.bob, mail.passwords[mail.bob])
    c.logout()


def test_authenticate_plain_with_and_without_initial_response(mail, stack):
    token = base64.b64encode(f"\0{mail.alice}\0{mail.passwords[mail.alice]}".encode()).decode()
    r = Raw(stack)
    _, tagged = r.command(f"AUTHENTICATE PLAIN {token}")
    assert b"OK [CAPABILITY " in tagged
    r.close()
    r = Raw(stack)
    r.send("b1 AUTHENTICATE PLAIN\r\n")
    assert r.line() == b"+ \r\n"
    r.send(token + "\r\n")
    _, tagged = r.until("b1")
    assert b"OK" in tagged
    r.close()
    r = Raw(stack)
    r.send("c1 AUTHENTICATE PLAIN\r\n")
    r.line()
    r.send("*\r\n")
    _, tagged = r.until("c1")
    assert tagged.startswith(b"c1 BAD")
    _, tagged = r.command("AUTHENTICATE CRAM-MD5")
    assert tagged.split()[1] == b"NO"
    r.close()


def test_plaintext_login_needs_tls_when_not_trusted(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_imapd(daemon, MAILCORE_IMAPD_PLAINTEXT_AUTH_NETWORKS="")
    r = Raw(stack)
    assert b"LOGINDISABLED" in r.greeting and b"AUTH=PLAIN" not in r.greeting
    _, tagged = r.command(f'LOGIN "{alice}" "{t.passwords[alice]}"')
    assert b"NO [PRIVACYREQUIRED]" in tagged
    r.close()
    c = imap(stack, t, alice, starttls=True)
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    c = imap(stack, t, alice, tls=True)
    assert c.list()[0] == "OK"
    c.logout()


def test_id_and_enable(mail, stack):
    r = Raw(stack)
    lines, tagged = r.command('ID ("name" "pytest" "version" "1")')
    assert lines[0].startswith(b'* ID ("name" "mailcore"') and b"OK" in tagged
    r.login(mail.alice, mail.passwords[mail.alice])
    lines, _ = r.command("ENABLE QRESYNC CONDSTORE UNKNOWN")
    assert lines == [b"* ENABLED QRESYNC CONDSTORE\r\n"]
    lines, _ = r.command("ENABLE QRESYNC")
    assert lines == [b"* ENABLED\r\n"]
    r.close()


def names(listing):
    """Mailbox names of imaplib LIST lines."""
    return [re.match(rb'\(.*?\) "/" (.*)', line).group(1).strip(b'"').decode()
            for line in listing]


def test_list_create_rename_delete(mail, stack):
    c = imap(stack, mail, mail.alice)
    typ, lst = c.list()
    assert sorted(names(lst)) == ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    assert any(b"\\Sent" in line for line in lst)
    assert c.create("Work/2026/Q1")[0] == "OK"
    assert c.create("Work")[0] == "NO"
    typ, lst = c.list('""', "Work/%")
    assert names(lst) == ["Work/2026"] and b"\\HasChildren" in lst[0]
    assert c.rename("Work", "Jobs")[0] == "OK"
    assert sorted(names(c.list('""', "Jobs*")[1])) == ["Jobs", "Jobs/2026", "Jobs/2026/Q1"]
    assert c.delete("INBOX")[0] == "NO" and c.delete("Sent")[0] == "NO"
    assert c.delete("Jobs/2026")[0] == "OK"
    assert "Jobs/2026/Q1" in names(c.list()[1])
    typ, data = c.delete("Nope")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    # non-ASCII names travel as modified UTF-7
    assert c.create("Entw&APw-rfe")[0] == "OK"
    assert stack.psql(f"SELECT count(*) FROM mailboxes WHERE name = 'Entwürfe' AND "
                      f"tenant_id = {mail.id}") == [["1"]]
    c.logout()


def test_list_extended_status_and_subscriptions(mail, stack):
    deliver(stack, mail.alice, "one")
    deliver(stack, mail.alice, "two")
    r = Raw(stack)
    r.login(mail.alice, mail.passwords[mail.alice])
    lines, _ = r.command('LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN SIZE))')
    assert lines[0].startswith(b'* LIST (\\HasNoChildren) "/" INBOX')
    assert re.match(rb"\* STATUS INBOX \(MESSAGES 2 UNSEEN 2 SIZE \d+\)", lines[1])
    lines, _ = r.command('LIST (SPECIAL-USE) "" "*"')
    assert len(lines) == 5 and all(b"\\HasNoChildren \\" in l for l in lines)
    r.command("CREATE Lists")
    r.command("UNSUBSCRIBE Lists")
    lines, _ = r.command('LSUB "" "*"')
    assert b"Lists" not in b"".join(lines) and b"INBOX" in b"".join(lines)
    lines, _ = r.command('LIST (SUBSCRIBED) "" "*"')
    assert all(b"\\Subscribed" in l for l in lines) and b"Lists" not in b"".join(lines)
    lines, _ = r.command("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED "
                         "HIGHESTMODSEQ)")
    assert re.match(rb"\* STATUS INBOX \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 2 "
                    rb"HIGHESTMODSEQ \d+ DELETED 0\)", lines[0]), lines
    lines, _ = r.command('LIST "" ""')
    assert lines == [b'* LIST (\\Noselect) "/" ""\r\n']
    lines, _ = r.command("NAMESPACE")
    assert lines == [b'* NAMESPACE (("" "/")) NIL NIL\r\n']
    _, tagged = r.command("STATUS INBOX (BOGUS)")
    assert tagged.split()[1] == b"BAD"
    r.close()


def test_select_examine_condstore_qresync(mail, stack):
    for i in range(3):
        deliver(stack, mail.alice, f"m{i}")
    r = Raw(stack)
    r.login(mail.alice, mail.passwords[mail.alice])
    lines, tagged = r.command("SELECT INBOX (CONDSTORE)")
    text = b"".join(lines)
    assert b"* 3 EXISTS" in text and b"* OK [UIDNEXT 4]" in text
    assert b"[PERMANENTFLAGS (\\Answered" in text and b"HIGHESTMODSEQ" in text
    assert b"OK [READ-WRITE]" in tagged
    validity = int(re.search(rb"UIDVALIDITY (\d+)", text).group(1))
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", text).group(1))
    lines, tagged = r.command("EXAMINE INBOX")
    assert b"READ-ONLY" in tagged
    _, tagged = r.command("EXPUNGE")
    assert b"NO [READ-ONLY]" in tagged
    # another client removes message 2; a QRESYNC client learns it
    stack.psql(f"UPDATE mailbox_messages SET flags = 8 WHERE uid = 2 AND tenant_id = {mail.id}")
    c = imap(stack, mail, mail.alice)
    c.select("INBOX")
    assert c.expunge()[0] == "OK"
    c.logout()
    r.command("ENABLE QRESYNC")
    lines, tagged = r.command(f"SELECT INBOX (QRESYNC ({validity} {modseq}))")
    assert b"* VANISHED (EARLIER) 2\r\n" in lines, lines
    assert b"* 2 EXISTS\r\n" in lines and b"OK [READ-WRITE]" in tagged
    _, tagged = r.command("SELECT Nope")
    assert b"NO [NONEXISTENT]" in tagged
    _, tagged = r.command("EXPUNGE")
    assert tagged.split()[1] == b"BAD"  # the failed SELECT unselected
    r.close()


def test_expunge_close_unselect(mail, stack):
    for i in range(4):
        deliver(stack, mail.alice, f"x{i}")
    r = Raw(stack)
    r.login(mail.alice, mail.passwords[mail.alice])
    r.command("SELECT INBOX")
    stack.psql(f"UPDATE mailbox_messages SET flags = 8 WHERE uid IN (2, 3) AND "
               f"tenant_id = {mail.id}")
    lines, tagged = r.command("EXPUNGE")
    assert lines == [b"* 3 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"] and b"OK" in tagged
    stack.psql(f"UPDATE mailbox_messages SET flags = 8 WHERE uid = 4 AND tenant_id = {mail.id}")
    lines, tagged = r.command("UNSELECT")
    assert b"OK" in tagged
    r.command("SELECT INBOX")
    lines, tagged = r.command("CLOSE")
    assert lines == [] and b"OK" in tagged  # CLOSE expunges silently
    assert stack.psql(f"SELECT count(*) FROM mailbox_messages WHERE tenant_id = {mail.id}") \
        == [["1"]]
    used = int(stack.psql(f"SELECT used_bytes FROM users WHERE tenant_id = {mail.id} AND "
                          "local_part = 'alice'")[0][0])
    size = int(stack.psql(f"SELECT sum(size_bytes) FROM mailbox_messages WHERE "
                          f"tenant_id = {mail.id}")[0][0])
    assert used == size
    r.close()


def test_idle_sees_smtp_delivery_at_once(mail, stack):
    deliver(stack, mail.alice, "before")
    r = Raw(stack)
    r.login(mail.alice, mail.passwords[mail.alice])
    r.command("SELECT INBOX")
    r.send("i1 IDLE\r\n")
    assert r.line() == b"+ idling\r\n"
    t = time.monotonic()
    deliver(stack, mail.alice, "during")
    assert r.line() == b"* 2 EXISTS\r\n"
    assert time.monotonic() - t < 1.0
    r.send("DONE\r\n")
    _, tagged = r.until("i1")
    assert tagged.startswith(b"i1 OK")
    r.close()


def test_changes_of_another_session_show_at_noop(mail, stack):
    deliver(stack, mail.alice, "first")
    a = imap(stack, mail, mail.alice)
    a.select("INBOX")
    deliver(stack, mail.alice, "second")
    typ, data = a.noop()
    assert typ == "OK"
    assert a.response("EXISTS")[1] == [b"2"] or b"2" in (a.untagged_responses.get("EXISTS") or [b"2"])
    a.logout()


def test_quota_roots(mail, stack, mailctl):
    deliver(stack, mail.alice, "q", body="x" * 3000)
    r = Raw(stack)
    r.login(mail.alice, mail.passwords[mail.alice])
    lines, _ = r.command("GETQUOTAROOT INBOX")
    assert lines == [b"* QUOTAROOT INBOX\r\n"]  # unlimited: no root
    mailctl("user", "set", mail.alice, "--quota", "1M")
    lines, _ = r.command("GETQUOTAROOT INBOX")
    assert lines[0] == b'* QUOTAROOT INBOX "User quota"\r\n'
    assert re.match(rb'\* QUOTA "User quota" \(STORAGE [34] 1024\)', lines[1]), lines
    _, tagged = r.command('GETQUOTA "Nope"')
    assert b"NO [NONEXISTENT]" in tagged
    r.close()


def test_compress_deflate(mail, stack):
    deliver(stack, mail.alice, "zipped")
    r = Raw(stack)
    r.login(mail.alice, mail.passwords[mail.alice])
    _, tagged = r.command("COMPRESS DEFLATE")
    assert tagged.split()[1] == b"OK"
    out, inp = zlib.compressobj(wbits=-15), zlib.decompressobj(wbits=-15)

    def send(text):
        r.sock.sendall(out.compress(text.encode()) + out.flush(zlib.Z_SYNC_FLUSH))

    def read_until(tag):
        data = b""
        while (b"\r\n" + tag) not in b"\r\n" + data or not data.endswith(b"\r\n"):
            chunk = r.sock.recv(65536)
            assert chunk, data
            data += inp.decompress(chunk)
        return data
    send("c1 SELECT INBOX\r\n")
    data = read_until(b"c1 ")
    assert b"* 1 EXISTS" in data and b"c1 OK" in data
    send("c2 COMPRESS DEFLATE\r\n")
    assert b"c2 NO [COMPRESSIONACTIVE]" in read_until(b"c2 ")
    r.close()


def test_bad_input_is_answered_and_the_session_survives(mail, stack):
    r = Raw(stack)
    for text, want in (("FROBNICATE", b"BAD"), ("SELECT INBOX", b"BAD"),
                       ('LOGIN "unterminated', b"BAD")):
        _, tagged = r.command(text)
        assert want in tagged, (text, tagged)
    r.send("\r\n")
    assert b"BAD" in r.line()
    r.send("x1 LOGIN {5}\r\n")
    assert r.line().startswith(b"+")
    r.send(mail.alice.split("@")[0][:5] + " x\r\n")
    _, tagged = r.until("x1")
    assert b"NO" in tagged
    r.send("y1 NOOP " + "a" * 100000 + "\r\n")
    line = r.line()
    assert b"BAD" in line or b"NO" in line
    _, tagged = r.command("NOOP")
    assert b"OK" in tagged
    r.close()


def test_too_many_bad_commands_end_the_session(mail, stack):
    r = Raw(stack)
    r.send("".join(f"b{i} BOGUS\r\n" for i in range(25)))
    data = r.f.read()
    assert data.count(b" BAD ") == 20 and b"* BYE Too many invalid commands" in data


def test_login_timeout_says_bye(stack, mailctl, daemon, uniq):
    start_imapd(daemon, MAILCORE_IMAPD_LOGIN_TIMEOUT="1s")
    r = Raw(stack)
    t = time.monotonic()
    assert r.f.read() == b"* BYE Autologout; idle for too long\r\n"
    assert 0.9 < time.monotonic() - t < 5


def test_session_limit_per_user(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_imapd(daemon, MAILCORE_IMAPD_MAX_SESSIONS_PER_USER="2")
    a, b = imap(stack, t, alice), imap(stack, t, alice)
    c = imaplib.IMAP4("127.0.0.1", stack.port("imap"), timeout=15)
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login(alice, t.passwords[alice])
    assert "LIMIT" in str(e.value)
    a.logout()
    wait_until(lambda: False, 0.3)
    assert c.login(alice, t.passwords[alice])[0] == "OK"
    for x in (b, c):
        x.logout()


def test_database_outage_is_unavailable_then_recovers(mail, stack):
    c = imap(stack, mail, mail.alice)
    with stopped(stack, "pg"):
        typ, data = c.select("INBOX")
        assert typ == "NO" and b"UNAVAILABLE" in data[0]
    assert wait_until(lambda: c.select("INBOX")[0] == "OK", 15)
    c.logout()


def test_stop_with_a_client_connected_says_bye(mail, stack):
    r = Raw(stack)
    r.login(mail.alice, mail.passwords[mail.alice])
    assert mail.imapd.stop() == 0
    assert r.f.read() == b"* BYE Server shutting down\r\n"
