"""mailctl queue against mail queued by the real mc-smtpd (an alias whose
targets are remote, so the message waits in the outbound queue; no
delivery agent runs): list with its filters and JSON, show, hold with a
reason, release, retry, delete and delete --bounce, each checked in the
PostgreSQL rows and the audit log."""
import json

from smtp_helpers import smtpd_exits_cleanly  # noqa: F401 (autouse fixture)
from smtp_helpers import Tenant, count, message, ok, queue_id, send, start_smtpd

SENDER = "sender@example.org"


def queue_one(stack, mailctl, daemon, uniq, t=None):
    """A message for two remote addresses of two domains; (tenant, qid,
    recipients)."""
    t = t or Tenant(stack, mailctl, uniq)
    rcpts = [f"x-{uniq}@far-{uniq}.example", f"y-{uniq}@near-{uniq}.example"]
    ok(mailctl("alias", "add", f"out@{t.domain}", *rcpts))
    start_smtpd(daemon)
    qid = queue_id(send(stack, SENDER, [f"out@{t.domain}"], message(uniq)))
    return t, qid, rcpts


def entry_row(stack, qid):
    """(state, held_reason or '') of the queue entry, or None."""
    rows = stack.psql("SELECT state, coalesce(held_reason, '') FROM queue "
                      f"WHERE queue_id = '{qid}'")
    return tuple(rows[0]) if rows else None


def audited(stack, action, qid):
    """The tenant ids and changes of the audit records of action on qid."""
    return [(int(r[0]), json.loads(r[1])) for r in stack.psql(
        "SELECT tenant_id, changes FROM audit_log WHERE action = "
        f"'{action}' AND changes->>'queue_id' = '{qid}' ORDER BY id")]


def listed(mailctl, *args):
    """The queue ids of queue list with args."""
    r = ok(mailctl("queue", "list", *args))
    return [line.split("\t")[0] for line in r.stdout.splitlines()]


def test_list_filters_and_json(stack, mailctl, daemon, uniq):
    t, qid, rcpts = queue_one(stack, mailctl, daemon, uniq)
    [line] = ok(mailctl("queue", "list", "--tenant", t.name)).stdout.splitlines()
    f = line.split("\t")
    assert f[:3] == [qid, t.name, "queued"]
    assert f[5] == SENDER
    assert f[6] == ",".join(f"{a}(queued)" for a in sorted(rcpts))
    assert listed(mailctl, "--tenant", t.name, "--domain", f"FAR-{uniq}.example") == [qid]
    assert listed(mailctl, "--tenant", t.name, "--domain", "elsewhere.example") == []
    assert listed(mailctl, "--tenant", t.name, "--sender", "SENDER@example") == [qid]
    assert listed(mailctl, "--tenant", t.name, "--sender", "nobody") == []
    assert listed(mailctl, "--recipient", f"y-{uniq}@") == [qid]
    assert listed(mailctl, "--tenant", t.name, "--state", "queued") == [qid]
    assert listed(mailctl, "--tenant", t.name, "--state", "held") == []
    assert listed(mailctl, "--tenant", t.name, "--older-than", "1h") == []
    [e] = json.loads(ok(mailctl("queue", "list", "--tenant", t.name, "--json")).stdout)
    assert (e["queue_id"], e["tenant"], e["state"], e["sender"]) == (
        qid, t.name, "queued", SENDER)
    assert e["client_ip"] == "127.0.0.1" and e["size"] > 0
    assert sorted(r["address"] for r in e["recipients"]) == sorted(rcpts)
    assert {r["state"] for r in e["recipients"]} == {"queued"}

    other = Tenant(stack, mailctl, uniq + "b")
    assert listed(mailctl, "--tenant", other.name) == []


def test_show(stack, mailctl, daemon, uniq):
    t, qid, rcpts = queue_one(stack, mailctl, daemon, uniq)
    out = ok(mailctl("queue", "show", qid)).stdout
    fields = dict(line.split(": ", 1) for line in out.splitlines()
                  if not line.startswith("recipient: "))
    assert (fields["queue_id"], fields["tenant"], fields["state"], fields["sender"],
            fields["client_ip"], fields["held_reason"]) == (
        qid, t.name, "queued", SENDER, "127.0.0.1", "-")
    got = [line.split("\t")[:3] for line in out.splitlines()
           if line.startswith("recipient: ")]
    assert got == [[f"recipient: {a}", "queued", "attempts=0"] for a in sorted(rcpts)]
    e = json.loads(ok(mailctl("queue", "show", qid, "--json")).stdout)
    assert e["queue_id"] == qid and len(e["recipients"]) == 2
    # the lifetime of [delivery] (default 5 days)
    assert e["expires_at"] > e["created_at"]

    r = mailctl("queue", "show", "NOSUCHQUEUEID")
    assert r.returncode == 1 and "no queue entry NOSUCHQUEUEID" in r.stderr


def test_hold_release_retry(stack, mailctl, daemon, uniq):
    t, qid, _ = queue_one(stack, mailctl, daemon, uniq)
    r = ok(mailctl("queue", "hold", qid, "--reason", "looks odd"))
    assert r.stdout == f"queue entry {qid} held\n"
    assert entry_row(stack, qid) == ("held", "looks odd")
    assert listed(mailctl, "--tenant", t.name, "--state", "held") == [qid]
    assert "held_reason: looks odd\n" in ok(mailctl("queue", "show", qid)).stdout
    assert audited(stack, "queue.hold", qid) == [
        (t.id, {"queue_id": qid, "reason": "looks odd"})]

    ok(mailctl("queue", "release", qid))
    assert entry_row(stack, qid) == ("queued", "")
    assert [c for _, c in audited(stack, "queue.release", qid)] == [{"queue_id": qid}]

    stack.psql("UPDATE queue_recipients SET next_attempt = now() + interval '1 hour', "
               "state = 'deferred', claimed_by = 'x:1', claimed_until = now() + "
               "interval '1 hour' WHERE queue_entry = (SELECT id FROM queue WHERE "
               f"queue_id = '{qid}')")
    assert listed(mailctl, "--tenant", t.name, "--state", "deferred") == [qid]
    r = ok(mailctl("queue", "retry", qid))
    assert r.stdout == f"queue entry {qid} due now\n"
    assert count(stack, "SELECT count(*) FROM queue_recipients r JOIN queue q ON "
                 "q.tenant_id = r.tenant_id AND q.id = r.queue_entry WHERE "
                 f"q.queue_id = '{qid}' AND r.next_attempt <= now() AND "
                 "r.claimed_by IS NULL AND r.state = 'deferred'") == 2
    assert len(audited(stack, "queue.retry", qid)) == 1


def test_retry_all(stack, mailctl, daemon, uniq):
    t, qid, _ = queue_one(stack, mailctl, daemon, uniq)
    stack.psql("UPDATE queue_recipients SET next_attempt = now() + interval '1 hour' "
               f"WHERE tenant_id = {t.id}")
    r = ok(mailctl("queue", "retry", "--all"))
    assert r.stdout.endswith(" queue entries due now\n")
    assert count(stack, "SELECT count(*) FROM queue_recipients WHERE tenant_id = "
                 f"{t.id} AND next_attempt <= now()") == 2
    assert len(audited(stack, "queue.retry", qid)) == 1


def test_delete_and_delete_with_bounce(stack, mailctl, daemon, uniq):
    t, qid, _ = queue_one(stack, mailctl, daemon, uniq)
    msg = stack.psql(f"SELECT message_id FROM queue WHERE queue_id = '{qid}'")[0][0]
    assert stack.psql(f"SELECT refcount FROM messages WHERE id = {msg}") == [["1"]]
    r = ok(mailctl("queue", "delete", qid))
    assert r.stdout == f"queue entry {qid} deleted\n"
    assert entry_row(stack, qid) is None
    assert count(stack, f"SELECT count(*) FROM queue_recipients WHERE tenant_id = {t.id}") == 0
    assert stack.psql("SELECT refcount, zero_since IS NOT NULL FROM messages "
                      f"WHERE id = {msg}") == [["0", "t"]]
    assert audited(stack, "queue.delete", qid) == [(t.id, {"queue_id": qid})]

    second = message(uniq + "-2", subject="again")
    qid2 = queue_id(send(stack, SENDER, [f"out@{t.domain}"], second))
    ok(mailctl("queue", "hold", qid2))
    r = ok(mailctl("queue", "delete", qid2, "--bounce"))
    assert r.stdout == f"queue entry {qid2} deleted, DSN to the sender\n"
    # the entry waits for the delivery agent to send the DSN
    assert entry_row(stack, qid2) == ("queued", "")
    rows = stack.psql("SELECT r.state, r.status, r.last_error FROM queue_recipients r "
                      "JOIN queue q ON q.tenant_id = r.tenant_id AND q.id = "
                      f"r.queue_entry WHERE q.queue_id = '{qid2}'")
    assert rows == [["failed", "5.0.0", "deleted from the queue by the administrator"]] * 2
    assert listed(mailctl, "--tenant", t.name, "--state", "failed") == [qid2]
    assert audited(stack, "queue.delete", qid2) == [
        (t.id, {"queue_id": qid2, "bounce": True})]

    r = mailctl("queue", "delete", qid)
    assert r.returncode == 1 and f"no queue entry {qid}" in r.stderr


def test_usage_errors(stack, mailctl):
    for args, code, text in [
            (("queue", "show"), 2, "expected one queue id"),
            (("queue", "hold", "A", "B"), 2, "expected one queue id"),
            (("queue", "delete", "A", "--bogus"), 2, "unknown option"),
            (("queue", "list", "--older-than", "soon"), 2, "bad duration"),
            (("queue", "list", "--state", "bogus"), 2, "unknown queue state bogus"),
            (("queue", "list", "--tenant", "no-such-tenant"), 1, "no tenant no-such-tenant")]:
        r = mailctl(*args)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert text in r.stderr, (args, r.stderr)
