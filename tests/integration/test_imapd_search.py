"""mc-imapd SEARCH, SORT and THREAD on five known messages delivered
through the real mc-smtpd (a small thread of replies, dates, sizes,
custom headers, non-ASCII bodies): header, body, date, size, flag, UID and
sequence keys, OR/NOT, ESEARCH return options, SAVE and "$", CONDSTORE
MODSEQ, IMAP4rev2 ESEARCH, BADCHARSET, SORT and THREAD results, and
malformed commands."""
import re

import pytest

from imap_helpers import Raw, deliver, imap, wait_until
from imap_helpers import imapd_exits_cleanly, mail  # noqa: F401 (fixtures)


def message(subject, sender, date, msgid, body, headers=()):
    lines = [f"From: {sender}", "To: Alice <alice@example.test>",
             f"Subject: {subject}", f"Date: {date}", f"Message-ID: <{msgid}>",
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
             *headers, "", body, ""]
    return "\r\n".join(lines).encode()


MESSAGES = [
    message("Project kickoff", "Zed Writer <zed@example.org>",
            "Sat, 01 Feb 2020 10:00:00 +0000", "a1@x.test",
            "Hello team, Grüße aus München",
            ["X-Custom: alpha-value", "Bcc: secret@hidden.example"]),
    message("Re: Project kickoff", "amy@example.org",
            "Mon, 03 Feb 2020 10:00:00 +0000", "a2@x.test", "日本 reply",
            ["In-Reply-To: <a1@x.test>", "References: <a1@x.test>"]),
    message("Lunch", "bob@example.org", "Sun, 02 Feb 2020 10:00:00 +0000",
            "a3@x.test", ("menu " * 20 + "\r\n") * 50),
    message("Re: Re: Project kickoff", "carl@example.org",
            "Tue, 04 Feb 2020 10:00:00 +0000", "a4@x.test", "agreed",
            ["In-Reply-To: <a2@x.test>",
             "References: <a1@x.test> <a2@x.test>"]),
    message("Re: Lunch", "dan@example.org", "Wed, 05 Feb 2020 10:00:00 +0000",
            "a5@x.test", "see you",
            ["In-Reply-To: <a3@x.test>", "References: <a3@x.test>"]),
]
UIDS = [1, 100, 101, 102, 103]  # UIDNEXT is moved to 100 after the first


@pytest.fixture
def box(mail, stack):
    """alice's INBOX with the five messages (UIDs 1, 100..103), internal
    dates 1..5 March 2020 (the second at 23:59), \\Seen on 1 and 2,
    \\Flagged on 2."""
    t = mail
    mbox = ("(SELECT b.id FROM mailboxes b JOIN users u ON u.tenant_id = "
            f"b.tenant_id AND u.id = b.user_id WHERE b.tenant_id = {t.id} "
            "AND u.local_part = 'alice' AND b.name = 'INBOX')")

    def count():
        return int(stack.psql("SELECT count(*) FROM mailbox_messages WHERE "
                              f"tenant_id = {t.id} AND mailbox_id = {mbox}")[0][0])
    for i, raw in enumerate(MESSAGES):
        deliver(stack, t.alice, raw=raw)
        assert wait_until(lambda: count() == i + 1, 10)
        if i == 0:
            stack.psql(f"UPDATE mailboxes SET uidnext = 100 WHERE tenant_id = "
                       f"{t.id} AND id = {mbox}")
    dates = ["2020-03-01 10:00", "2020-03-02 23:59", "2020-03-03 00:00",
             "2020-03-04 12:00", "2020-03-05 12:00"]
    flags = [1, 1 | 4, 0, 0, 0]
    for uid, date, f in zip(UIDS, dates, flags):
        stack.psql(f"UPDATE mailbox_messages SET internal_date = '{date}+00', "
                   f"flags = {f} WHERE tenant_id = {t.id} AND mailbox_id = "
                   f"{mbox} AND uid = {uid}")
    return t


def raw_session(stack, t, *enable):
    r = Raw(stack)
    r.login(t.alice, t.passwords[t.alice])
    for e in enable:
        _, tagged = r.command(f"ENABLE {e}")
        assert b" OK" in tagged, tagged
    _, tagged = r.command("SELECT INBOX")
    assert b" OK" in tagged, tagged
    return r


def search(c, *keys, uid=False):
    typ, data = c.uid("SEARCH", *keys) if uid else c.search(None, *keys)
    assert typ == "OK", (keys, data)
    return [int(x) for x in data[0].split()]


def test_search_keys(box, stack):
    c = imap(stack, box, box.alice)
    c.select("INBOX")
    cases = [
        (("SUBJECT", "kickoff"), [1, 2, 4]),
        (("SUBJECT", "LUNCH"), [3, 5]),
        (("FROM", "AMY"), [2]),
        (("FROM", '"zed writer"'), [1]),
        (("TO", "alice@EXAMPLE.test"), [1, 2, 3, 4, 5]),
        (("SINCE", "3-Mar-2020"), [3, 4, 5]),
        (("BEFORE", "3-Mar-2020"), [1, 2]),
        (("ON", "2-Mar-2020"), [2]),
        (("SENTSINCE", "3-Feb-2020"), [2, 4, 5]),
        (("SENTBEFORE", "2-Feb-2020"), [1]),
        (("LARGER", "3000"), [3]),
        (("SMALLER", "3000"), [1, 2, 4, 5]),
        (("SEEN",), [1, 2]),
        (("UNSEEN",), [3, 4, 5]),
        (("FLAGGED",), [2]),
        (("2:3",), [2, 3]),
        (("4:9",), [4, 5]),
        (("UID", "102:*"), [4, 5]),
        (("OR", "FLAGGED", "LARGER", "3000"), [2, 3]),
        (("NOT", "SEEN"), [3, 4, 5]),
        (("NOT", "(OR", "SEEN", "SUBJECT", "lunch)"), [4]),
        (("HEADER", "X-Custom", "ALPHA"), [1]),
        (("HEADER", "References", "a2@x.test"), [4]),
        (("BCC", "secret"), [1]),
        (("BCC", "alice"), []),
        (("TEXT", "agreed"), [4]),
    ]
    for keys, want in cases:
        assert search(c, *keys) == want, keys
    assert search(c, "2:3", uid=True) == [100, 101]
    assert search(c, "UID", "100:101", uid=True) == [100, 101]
    assert search(c, "SUBJECT", "kickoff", uid=True) == [1, 100, 102]
    c.literal = "Grüße".encode()
    assert search(c, "CHARSET", "UTF-8", "BODY", uid=True) == [1]
    c.literal = "日本".encode()
    assert search(c, "CHARSET", "UTF-8", "BODY") == [2]
    c.logout()


def test_esearch_save(box, stack):
    r = raw_session(stack, box)
    lines, tagged = r.command("UID SEARCH RETURN (MIN MAX COUNT ALL) SUBJECT kickoff")
    assert lines == [f'* ESEARCH (TAG "a{r.n}") UID MIN 1 MAX 102 COUNT 3 '
                     'ALL 1,100,102\r\n'.encode()], lines
    assert tagged.startswith(f"a{r.n} OK".encode())
    lines, _ = r.command("SEARCH RETURN (MIN COUNT) SUBJECT kickoff")
    assert lines == [f'* ESEARCH (TAG "a{r.n}") MIN 1 COUNT 3\r\n'.encode()]
    lines, _ = r.command("SEARCH RETURN () 2:4")
    assert lines == [f'* ESEARCH (TAG "a{r.n}") ALL 2:4\r\n'.encode()]
    lines, _ = r.command("SEARCH RETURN (COUNT ALL) SUBJECT nomatch")
    assert lines == [f'* ESEARCH (TAG "a{r.n}") COUNT 0\r\n'.encode()]
    # SAVE alone answers nothing; "$" is the saved UIDs
    lines, tagged = r.command("SEARCH RETURN (SAVE) SUBJECT lunch")
    assert lines == [] and b" OK " in tagged, (lines, tagged)
    lines, _ = r.command("UID SEARCH UID $")
    assert lines == [b"* SEARCH 101 103\r\n"]
    lines, _ = r.command("SEARCH $ NOT FROM bob")
    assert lines == [b"* SEARCH 5\r\n"]
    lines, tagged = r.command("UID FETCH $ (UID)")
    if b" OK " in tagged:  # once FETCH is there
        assert [l for l in lines if b"FETCH" in l] == [
            b"* 3 FETCH (UID 101)\r\n", b"* 5 FETCH (UID 103)\r\n"], lines
    # SAVE with MIN keeps only the minimum; with ALL everything
    lines, _ = r.command("SEARCH RETURN (SAVE MIN) SUBJECT kickoff")
    assert lines == [f'* ESEARCH (TAG "a{r.n}") MIN 1\r\n'.encode()]
    assert r.command("UID SEARCH $")[0] == [b"* SEARCH 1\r\n"]
    r.command("SEARCH RETURN (SAVE ALL) SUBJECT kickoff")
    assert r.command("SEARCH $")[0] == [b"* SEARCH 1 2 4\r\n"]
    r.close()


def test_modseq_rev2_charset(box, stack):
    r = raw_session(stack, box, "CONDSTORE")
    lines, _ = r.command("SEARCH MODSEQ 1 SUBJECT lunch")
    assert re.fullmatch(rb"\* SEARCH 3 5 \(MODSEQ \d+\)\r\n", lines[0]), lines
    lines, _ = r.command("SEARCH RETURN (ALL) MODSEQ 1 SUBJECT lunch")
    assert re.fullmatch(rb'\* ESEARCH \(TAG "a\d+"\) ALL 3,5 MODSEQ \d+\r\n',
                        lines[0]), lines
    lines, tagged = r.command("SEARCH CHARSET KOI8-X SUBJECT a")
    assert tagged.startswith(f"a{r.n} NO [BADCHARSET".encode()), tagged
    word = "Grüße".encode()
    r.send(f"a100 SEARCH CHARSET UTF-8 BODY {{{len(word)}+}}\r\n".encode()
           + word + b"\r\n")
    lines, tagged = r.until("a100")
    assert lines == [b"* SEARCH 1\r\n"] and b" OK " in tagged, (lines, tagged)
    r.close()
    r = raw_session(stack, box, "IMAP4rev2")
    lines, _ = r.command("SEARCH SUBJECT lunch")
    assert lines == [f'* ESEARCH (TAG "a{r.n}") ALL 3,5\r\n'.encode()], lines
    lines, _ = r.command("UID SEARCH SUBJECT nomatch")
    assert lines == [f'* ESEARCH (TAG "a{r.n}") UID\r\n'.encode()], lines
    r.close()


def test_sort_thread(box, stack):
    r = raw_session(stack, box)

    def one(cmd):
        lines, tagged = r.command(cmd)
        assert b" OK " in tagged, (cmd, tagged)
        assert len(lines) == 1, lines
        return lines[0].decode().rstrip("\r\n")
    assert one("SORT (ARRIVAL) UTF-8 ALL") == "* SORT 1 2 3 4 5"
    assert one("UID SORT (SUBJECT) UTF-8 ALL") == "* SORT 101 103 1 100 102"
    assert one("SORT (REVERSE DATE) UTF-8 ALL") == "* SORT 5 4 2 3 1"
    assert one("SORT (FROM) US-ASCII ALL") == "* SORT 2 3 4 5 1"
    assert one("SORT (DISPLAYFROM) UTF-8 NOT SEEN") == "* SORT 3 4 5"
    assert one("SORT (SIZE REVERSE ARRIVAL) UTF-8 SUBJECT nomatch") == "* SORT"
    assert one("THREAD REFERENCES UTF-8 ALL") == "* THREAD (1 2 4)(3 5)"
    assert one("UID THREAD REFERENCES UTF-8 ALL") == "* THREAD (1 100 102)(101 103)"
    assert one("THREAD ORDEREDSUBJECT UTF-8 ALL") == "* THREAD (1 (2)(4))(3 5)"
    assert one("THREAD REFERENCES UTF-8 SUBJECT lunch") == "* THREAD (3 5)"
    r.close()


def test_malformed(box, stack):
    r = raw_session(stack, box)
    for cmd in ["SEARCH", "SEARCH FOO", "SEARCH (", "SEARCH 0:3",
                "SEARCH SINCE 32-Foo-2020", "SEARCH RETURN (BOGUS) ALL",
                "SEARCH LARGER x", "SORT (BOGUS) UTF-8 ALL", "SORT ALL",
                "SORT (ARRIVAL)", "THREAD FOO UTF-8 ALL", "THREAD REFERENCES"]:
        _, tagged = r.command(cmd)
        assert tagged.startswith(f"a{r.n} BAD".encode()), (cmd, tagged)
    _, tagged = r.command("SORT (ARRIVAL) KOI8-X ALL")
    assert b" NO [BADCHARSET" in tagged, tagged
    _, tagged = r.command("NOOP")
    assert b" OK" in tagged
    r.close()
