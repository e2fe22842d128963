"""mc-imapd training the tenant's Bayesian classifier from what users do:
MOVE or COPY into Junk learns the message as spam (the tenant's and the
global totals move), MOVE out of Junk into another mailbox re-learns it as
ham, MOVE from Junk to Trash and between ordinary mailboxes teach nothing.
Learning is asynchronous (a worker job after the command), so the checks
poll. Mail is delivered through the real mc-smtpd."""
import pytest

from imap_helpers import imapd_exits_cleanly  # noqa: F401 (fixture)
from imap_helpers import deliver, imap, start_imapd
from smtp_helpers import Tenant, mailbox, wait_until

SPAMMY = ("Cheap watches and casino bonus offers, click now to claim "
          "your prize at http://prizes.example.net/win today\r\n")


@pytest.fixture
def junk(stack, mailctl, daemon, uniq):
    """A tenant with alice, mc-smtpd, and mc-imapd with one worker (so the
    learning jobs run in the order of the commands)."""
    t = Tenant(stack, mailctl, uniq)
    t.alice = t.user("alice")
    daemon("mc-smtpd")
    t.imapd = start_imapd(daemon, MAILCORE_SERVER_WORKERS="1")
    return t


def learned(stack, tenant_id, sha):
    """How the tenant learned the message: 'spam', 'ham' or None."""
    got = stack.psql("SELECT learned_as FROM bayes_learned WHERE tenant_id = "
                     f"{tenant_id} AND sha256 = '{sha}'")
    return got[0][0] if got else None


def totals(stack, tenant_id):
    """(spam, ham) messages of a table (0: the global one)."""
    got = stack.psql("SELECT spam_messages, ham_messages FROM bayes_totals "
                     f"WHERE tenant_id = {tenant_id}")
    return (int(got[0][0]), int(got[0][1])) if got else (0, 0)


def delta(before, after):
    return (after[0] - before[0], after[1] - before[1])


def inbox(stack, mail, n):
    """Delivers n messages to alice; returns their INBOX rows."""
    for i in range(n):
        deliver(stack, mail.alice, subject=f"Casino bonus {i}", body=SPAMMY)
    rows = wait_until(lambda: len(mailbox(stack, mail.alice)) == n and
                      mailbox(stack, mail.alice))
    assert rows, mailbox(stack, mail.alice)
    return rows


def test_move_to_junk_and_back(stack, junk):
    rows = inbox(stack, junk, 2)
    sha = rows[0]["sha256"]
    g0 = totals(stack, 0)
    c = imap(stack, junk, junk.alice)
    assert c.select("INBOX")[0] == "OK"
    typ, _ = c.uid("MOVE", str(rows[0]["uid"]), "Junk")
    assert typ == "OK"
    assert wait_until(lambda: learned(stack, junk.id, sha) == "spam")
    assert wait_until(lambda: totals(stack, junk.id) == (1, 0)), totals(stack, junk.id)
    assert delta(g0, totals(stack, 0)) == (1, 0)
    tokens = int(stack.psql("SELECT count(*) FROM bayes_tokens WHERE tenant_id = "
                            f"{junk.id} AND spam = 1 AND ham = 0")[0][0])
    assert tokens > 5
    # the other message stayed and was not learned
    assert learned(stack, junk.id, rows[1]["sha256"]) is None
    # back to INBOX: now ham, the counts move over
    assert c.select("Junk")[0] == "OK"
    uid = mailbox(stack, junk.alice, "Junk")[0]["uid"]
    assert c.uid("MOVE", str(uid), "INBOX")[0] == "OK"
    assert wait_until(lambda: learned(stack, junk.id, sha) == "ham")
    assert wait_until(lambda: totals(stack, junk.id) == (0, 1)), totals(stack, junk.id)
    assert delta(g0, totals(stack, 0)) == (0, 1)
    assert int(stack.psql("SELECT count(*) FROM bayes_tokens WHERE tenant_id = "
                          f"{junk.id} AND spam = 0 AND ham = 1")[0][0]) == tokens
    c.logout()


def test_copy_learns_trash_does_not(stack, junk):
    a, b, other = inbox(stack, junk, 3)
    c = imap(stack, junk, junk.alice)
    assert c.select("INBOX")[0] == "OK"
    # COPY into Junk learns as MOVE does
    assert c.uid("COPY", str(a["uid"]), "Junk")[0] == "OK"
    assert wait_until(lambda: learned(stack, junk.id, a["sha256"]) == "spam")
    # INBOX to Archive teaches nothing
    assert c.uid("MOVE", str(other["uid"]), "Archive")[0] == "OK"
    # from Junk to Trash: not ham
    assert c.select("Junk")[0] == "OK"
    uid = mailbox(stack, junk.alice, "Junk")[0]["uid"]
    assert c.uid("MOVE", str(uid), "Trash")[0] == "OK"
    # the one worker runs jobs in order: once b is learned, the jobs of the
    # two moves before it have run
    assert c.select("INBOX")[0] == "OK"
    assert c.uid("MOVE", str(b["uid"]), "Junk")[0] == "OK"
    assert wait_until(lambda: learned(stack, junk.id, b["sha256"]) == "spam")
    assert learned(stack, junk.id, a["sha256"]) == "spam"
    assert learned(stack, junk.id, other["sha256"]) is None
    assert totals(stack, junk.id) == (2, 0)
    # a message already learned as spam moved into Junk again counts once
    assert c.uid("COPY", str(mailbox(stack, junk.alice)[0]["uid"]), "Junk")[0] == "OK"
    assert c.select("Trash")[0] == "OK"
    assert c.uid("COPY", str(mailbox(stack, junk.alice, "Trash")[0]["uid"]),
                 "Junk")[0] == "OK"
    assert c.select("Archive")[0] == "OK"
    assert c.uid("COPY", str(mailbox(stack, junk.alice, "Archive")[0]["uid"]),
                 "Junk")[0] == "OK"
    assert wait_until(lambda: learned(stack, junk.id, other["sha256"]) == "spam")
    assert totals(stack, junk.id) == (3, 0)
    c.logout()
