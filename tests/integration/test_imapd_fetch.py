"""mc-imapd FETCH / UID FETCH with real clients and mail delivered by
mc-smtpd: the simple items (FLAGS, UID, RFC822.SIZE, INTERNALDATE),
ENVELOPE and BODYSTRUCTURE, body sections (whole, HEADER.FIELDS[.NOT],
TEXT, MIME, part numbers through message/rfc822, partials, missing
ones), BINARY and BINARY.SIZE, \\Seen set by non-PEEK sections, MODSEQ,
CHANGEDSINCE and VANISHED (EARLIER), bad requests, and a 5 MB message
streamed whole, with a client that reads slowly or goes away."""
import base64
import hashlib
import os
import re
import time

from imap_helpers import Raw, deliver, imap, mail  # noqa: F401
from smtp_helpers import blob, mailbox, user_info

ATTACHMENT = bytes(range(256)) * 8 + b"\0\0end"
BOUNDARY = "=_b0und"


def multipart(rcpt):
    """A multipart/mixed message: text, a base64 attachment, and a
    message/rfc822 part."""
    att = base64.encodebytes(ATTACHMENT).decode().replace("\n", "\r\n")
    return "\r\n".join([
        "From: Someone <someone@example.org>", f"To: <{rcpt}>",
        "Subject: multipart", "  test", "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"', "",
        "preamble text", f"--{BOUNDARY}",
        "Content-Type: text/plain; charset=utf-8", "",
        "Hello there, this is the text part.", f"--{BOUNDARY}",
        'Content-Type: application/octet-stream; name="data.bin"',
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="data.bin"', "",
        att.rstrip("\r\n"), f"--{BOUNDARY}",
        "Content-Type: message/rfc822", "",
        "From: inner@example.org", "Subject: inner", "", "inner body",
        f"--{BOUNDARY}--", ""]).encode()


def command(r, text):
    """Sends a command; returns (untagged responses with their literals
    inline, tagged line)."""
    r.n += 1
    r.send(f"a{r.n} {text}\r\n")
    return responses(r, f"a{r.n}".encode())


def responses(r, tag):
    """Reads up to the tagged response of tag."""
    out = []
    while True:
        buf = b""
        while True:
            line = r.f.readline()
            assert line, out
            buf += line
            m = re.search(rb"~?\{(\d+)\}\r\n$", line)
            if not m:
                break
            buf += r.f.read(int(m.group(1)))
        if buf.startswith(tag + b" "):
            return out, buf
        out.append(buf)


def value(data, i=0):
    """One IMAP value at data[i:] as Python: lists, bytes, None for NIL."""
    while data[i:i + 1] == b" ":
        i += 1
    c = data[i:i + 1]
    if c == b"(":
        out, i = [], i + 1
        while True:
            while data[i:i + 1] == b" ":
                i += 1
            if data[i:i + 1] == b")":
                return out, i + 1
            v, i = value(data, i)
            out.append(v)
    if c == b'"':
        s, i = bytearray(), i + 1
        while data[i:i + 1] != b'"':
            i += data[i:i + 1] == b"\\"
            s += data[i:i + 1]
            i += 1
        return bytes(s), i + 1
    m = re.match(rb"~?\{(\d+)\}\r\n", data[i:])
    if m:
        start = i + m.end()
        return data[start:start + int(m.group(1))], start + int(m.group(1))
    m = re.match(rb"[^ ()\[\]]+(\[[^\]]*\])?(<\d+>)?", data[i:])
    assert m, data[i:i + 50]
    return (None if m.group(0) == b"NIL" else m.group(0)), i + m.end()


def fetches(responses):
    """{seq: {ITEM: value}} of the FETCH responses (merged per message)."""
    out = {}
    for resp in responses:
        m = re.match(rb"\* (\d+) FETCH ", resp)
        if not m:
            continue
        items, end = value(resp, m.end())
        assert resp[end:] == b"\r\n", resp[end:]
        d = out.setdefault(int(m.group(1)), {})
        for k in range(0, len(items), 2):
            d[items[k].decode()] = items[k + 1]
    return out


def fetch1(r, text):
    """The items of message N of an OK "[UID] FETCH N ..." (UIDs and
    sequence numbers agree in these tests; flag updates of other
    messages may come along)."""
    lines, tagged = command(r, text)
    assert b" OK " in tagged, (tagged, lines)
    return fetches(lines)[int(re.search(r"FETCH (\d+)", text).group(1))]


def session(stack, mail, select="SELECT INBOX"):
    r = Raw(stack)
    r.login(mail.alice, mail.passwords[mail.alice])
    _, tagged = command(r, select)
    assert b" OK " in tagged
    return r


def set_flags(stack, mail, uid, flags):
    """Another client's flag change, in SQL: new MODSEQ and flags."""
    u = user_info(stack, mail.alice)
    mb = mailbox(stack, mail.alice)[0]["mailbox_id"]
    return int(stack.psql(
        "WITH b AS (UPDATE mailboxes SET highestmodseq = highestmodseq + 1 "
        f"WHERE tenant_id = {u['tenant_id']} AND id = {mb} RETURNING "
        "highestmodseq) UPDATE mailbox_messages mm SET flags = "
        f"{flags}, modseq = b.highestmodseq FROM b WHERE mm.tenant_id = "
        f"{u['tenant_id']} AND mm.mailbox_id = {mb} AND mm.uid = {uid} "
        "RETURNING mm.modseq")[0][0])


def test_simple_items_envelope_and_bodystructure(mail, stack):
    deliver(stack, mail.alice, "plain one")
    deliver(stack, mail.alice, raw=multipart(mail.alice))
    rows = mailbox(stack, mail.alice)
    r = session(stack, mail)
    lines, tagged = command(r, "FETCH 1:2 (FLAGS UID RFC822.SIZE INTERNALDATE)")
    assert b" OK " in tagged
    f = fetches(lines)
    assert [f[1]["UID"], f[2]["UID"]] == [b"1", b"2"] and f[1]["FLAGS"] == []
    assert int(f[2]["RFC822.SIZE"]) == rows[1]["size"]
    assert re.fullmatch(rb"\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d \+0000",
                        f[1]["INTERNALDATE"])
    env = fetch1(r, "FETCH 2 ENVELOPE")["ENVELOPE"]
    assert env[1].startswith(b"multipart")
    assert env[2] == [[b"Someone", None, b"someone", b"example.org"]]
    assert env[5] == [[None, None, b"alice", mail.domain.encode()]]
    bs = fetch1(r, "UID FETCH 2 BODYSTRUCTURE")["BODYSTRUCTURE"]
    text, att, msg = bs[0], bs[1], bs[2]
    assert bs[3] == b"MIXED" and bs[4] == [b"BOUNDARY", BOUNDARY.encode()]
    assert text[:2] == [b"TEXT", b"PLAIN"] and text[2] == [b"CHARSET", b"utf-8"]
    assert att[:2] == [b"APPLICATION", b"OCTET-STREAM"] and att[5] == b"BASE64"
    assert msg[:2] == [b"MESSAGE", b"RFC822"]
    assert any(isinstance(x, list) and x and x[0].lower() == b"attachment" for x in att)
    body = fetch1(r, "FETCH 2 BODY")["BODY"]
    assert body[3] == b"MIXED" and len(body) == 4  # no extension data
    r.close()


def test_body_sections_binary_and_partials(mail, stack):
    deliver(stack, mail.alice, raw=multipart(mail.alice))
    data = blob(stack, mailbox(stack, mail.alice)[0]["sha256"])
    r = session(stack, mail)
    f = fetch1(r, "FETCH 1 (BODY.PEEK[] BODY.PEEK[1] BODY.PEEK[2.MIME] "
                  "BODY.PEEK[TEXT]<0.10> BODY.PEEK[5] BODY.PEEK[3.HEADER] "
                  "BODY.PEEK[3.TEXT] BODY.PEEK[3.1] BODY.PEEK[1.HEADER])")
    assert f["BODY[]"] == data
    assert f["BODY[1]"] == b"Hello there, this is the text part."
    assert f["BODY[2.MIME]"] == (
        b'Content-Type: application/octet-stream; name="data.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="data.bin"\r\n\r\n')
    assert f["BODY[TEXT]<0>"] == b"preamble t"
    assert f["BODY[5]"] == b"" and f["BODY[1.HEADER]"] == b""
    assert f["BODY[3.HEADER]"] == b"From: inner@example.org\r\nSubject: inner\r\n\r\n"
    assert f["BODY[3.TEXT]"] == f["BODY[3.1]"] == b"inner body"
    f = fetch1(r, "FETCH 1 (BODY.PEEK[HEADER.FIELDS (from SUBJECT)] "
                  "BODY.PEEK[HEADER.FIELDS.NOT (Received Subject From To Date "
                  "Message-ID)]<0.12> RFC822.HEADER)")
    assert f["BODY[HEADER.FIELDS (FROM SUBJECT)]"] == (
        b"From: Someone <someone@example.org>\r\nSubject: multipart\r\n  test\r\n\r\n")
    assert f["BODY[HEADER.FIELDS.NOT (RECEIVED SUBJECT FROM TO DATE MESSAGE-ID)]<0>"] \
        == b"MIME-Version"
    assert f["RFC822.HEADER"] == data[:data.index(b"\r\n\r\n") + 4]
    lines, tagged = command(r, "FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[1] "
                               "BINARY.PEEK[2]<2048.10> BINARY.SIZE[7])")
    assert b" OK " in tagged and b"BINARY[2] ~{%d}\r\n" % len(ATTACHMENT) in lines[0]
    f = fetches(lines)[1]
    assert f["BINARY[2]"] == ATTACHMENT
    assert int(f["BINARY.SIZE[2]"]) == len(ATTACHMENT)
    assert f["BINARY[1]"] == b"Hello there, this is the text part."
    assert f["BINARY[2]<2048>"] == ATTACHMENT[2048:2058]
    assert f["BINARY.SIZE[7]"] == b"0"
    # imaplib too, and the flags were left alone by the PEEKs
    c = imap(stack, mail, mail.alice)
    c.select("INBOX")
    typ, got = c.fetch("1", "(BODY.PEEK[TEXT]<5.3> FLAGS)")
    assert typ == "OK" and got[0][1] == b"ble" and b"\\Seen" not in got[1]
    c.logout()
    r.close()


def test_non_peek_sets_seen_but_not_when_examined(mail, stack):
    for i in range(3):
        deliver(stack, mail.alice, f"s{i}")
    r = session(stack, mail, "EXAMINE INBOX")
    f = fetch1(r, "FETCH 3 (BODY[TEXT])")
    assert f["BODY[TEXT]"] == b"body text\r\n" and "FLAGS" not in f
    assert fetch1(r, "FETCH 3 FLAGS")["FLAGS"] == []
    command(r, "SELECT INBOX")
    f = fetch1(r, "FETCH 1 (BODY.PEEK[TEXT])")
    assert "FLAGS" not in f
    f = fetch1(r, "FETCH 1 (UID BODY[])")
    assert f["FLAGS"] == [b"\\Seen"] and f["BODY[]"].endswith(b"body text\r\n")
    f = fetch1(r, "FETCH 2 RFC822")
    assert f["FLAGS"] == [b"\\Seen"] and "RFC822" in f
    lines, _ = command(r, "FETCH 1:3 FLAGS")
    f = fetches(lines)
    assert f[1]["FLAGS"] == f[2]["FLAGS"] == [b"\\Seen"] and f[3]["FLAGS"] == []
    u = user_info(stack, mail.alice)
    rows = stack.psql(f"SELECT uid, flags FROM mailbox_messages WHERE tenant_id = "
                      f"{u['tenant_id']} ORDER BY uid")
    assert rows == [["1", "1"], ["2", "1"], ["3", "0"]]
    r.close()


def test_modseq_changedsince_and_vanished(mail, stack):
    for i in range(3):
        deliver(stack, mail.alice, f"c{i}")
    r = session(stack, mail)
    lines, tagged = command(r, "FETCH 1:* (MODSEQ)")
    assert any(l.startswith(b"* OK [HIGHESTMODSEQ ") for l in lines)  # enabled
    f = fetches(lines)
    mods = [int(f[i]["MODSEQ"][0]) for i in (1, 2, 3)]
    assert "UID" in f[1]  # CONDSTORE is on: UID in every FETCH
    high = max(mods)
    new = set_flags(stack, mail, 2, 4)
    lines, tagged = command(r, f"FETCH 1:* (FLAGS) (CHANGEDSINCE {high})")
    f = fetches(lines)
    assert list(f) == [2] and f[2]["FLAGS"] == [b"\\Flagged"]
    assert int(f[2]["MODSEQ"][0]) == new > high
    lines, _ = command(r, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {new})")
    assert fetches(lines) == {}
    _, tagged = command(r, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {high} VANISHED)")
    assert tagged.split()[1] == b"BAD"  # QRESYNC not enabled
    # another client expunges message 3; VANISHED (EARLIER) reports it
    r2 = session(stack, mail)
    command(r2, "ENABLE QRESYNC")
    command(r2, "SELECT INBOX")
    set_flags(stack, mail, 3, 8)
    c = imap(stack, mail, mail.alice)
    c.select("INBOX")
    assert c.expunge()[0] == "OK"
    c.logout()
    lines, tagged = command(r2, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {high} VANISHED)")
    assert b" OK " in tagged
    assert b"* VANISHED (EARLIER) 3\r\n" in lines, lines
    f = fetches(lines)
    assert [v["UID"] for v in f.values()] == [b"2"]
    _, tagged = command(r2, f"FETCH 1:* (FLAGS) (CHANGEDSINCE {high} VANISHED)")
    assert tagged.split()[1] == b"BAD"  # VANISHED only with UID FETCH
    r.close()
    r2.close()


def test_ranges_and_bad_requests(mail, stack):
    deliver(stack, mail.alice, "only")
    r = session(stack, mail)
    lines, tagged = command(r, "FETCH 5:9 FLAGS")
    assert lines == [] and b" OK " in tagged
    lines, tagged = command(r, "UID FETCH 100:200 FLAGS")
    assert lines == [] and b" OK " in tagged
    lines, tagged = command(r, "FETCH * (UID)")
    assert fetches(lines)[1]["UID"] == b"1"
    lines, tagged = command(r, "FETCH 1 ALL")
    f = fetches(lines)[1]
    assert {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"} <= set(f)
    for bad in ("FETCH", "FETCH 1", "FETCH x FLAGS", "FETCH 1 (FLAGS BOGUS)",
                "FETCH 1 BODY[HEADER.FIELDS]", "FETCH 1 BODY[]<1>", "FETCH 1 ()",
                "FETCH 0 FLAGS", "FETCH 1 FLAGS (CHANGEDSINCE x)"):
        _, tagged = command(r, bad)
        assert tagged.split()[1] == b"BAD", (bad, tagged)
    lines, tagged = command(r, "LOGOUT")
    r.close()
    r = Raw(stack)
    r.login(mail.alice, mail.passwords[mail.alice])
    _, tagged = command(r, "FETCH 1 FLAGS")
    assert tagged.split()[1] == b"BAD"  # nothing selected
    r.close()


def big_message(rcpt, payload):
    """A multipart message with payload as a base64 attachment (as text
    it would be indexed for search)."""
    att = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return b"\r\n".join([
        b"From: <someone@example.org>", f"To: <{rcpt}>".encode(), b"Subject: big",
        b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="b"', b"",
        b"--b", b"Content-Type: text/plain", b"", b"see attachment", b"--b",
        b"Content-Type: application/octet-stream",
        b"Content-Transfer-Encoding: base64", b"", att.rstrip(b"\r\n"),
        b"--b--", b""])


def test_five_megabytes_whole_slow_reader_and_gone_client(mail, stack):
    payload = os.urandom(3_800_000)
    deliver(stack, mail.alice, raw=big_message(mail.alice, payload))
    deliver(stack, mail.alice, "small")
    rows = mailbox(stack, mail.alice)
    assert rows[0]["size"] > 5_000_000
    r = session(stack, mail)
    r.send("b1 FETCH 1:2 (BODY.PEEK[] RFC822.SIZE)\r\n")
    time.sleep(0.5)  # the output backs up: the server pauses
    out, tagged = responses(r, b"b1")
    assert b" OK " in tagged
    f = fetches(out)
    assert hashlib.sha256(f[1]["BODY[]"]).hexdigest() == rows[0]["sha256"]
    assert int(f[1]["RFC822.SIZE"]) == rows[0]["size"]
    assert f[2]["BODY[]"] == blob(stack, rows[1]["sha256"])
    f = fetch1(r, "FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])")
    assert f["BINARY[2]"] == payload and int(f["BINARY.SIZE[2]"]) == len(payload)
    # clients that leave in the middle of a big FETCH
    for _ in range(3):
        g = session(stack, mail)
        g.send("z1 FETCH 1 (BODY.PEEK[] BINARY.PEEK[2])\r\n")
        g.f.readline()
        g.close()
    assert fetch1(r, "FETCH 2 (FLAGS)")["FLAGS"] == []
    r.close()
