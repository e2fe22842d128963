"""The security log (schema/0011, one row per message and local recipient
as mc-smtpd writes it) over the REST API: rows of two tenants and three
domains (inserted by SQL) are listed newest first to the provider, the
resellers, tenant and domain admins, each only inside its own subtree
(other domains 404, lesser roles 403), filtered by action, recipient,
sender, time and spam score, and paged with cursors; `mailctl op
security.list` answers the same; maintenance deletes rows older than 30
days and keeps the others. API responses are checked against
api/openapi.yaml."""
import json
import os
import subprocess
import urllib.parse

import pytest

from api_world import api, webd, world  # noqa: F401 (fixtures)

# key: (domain key, local part, action, score, reason, virus, age)
ROWS = {
    "a_deliver": ("d1", "alice", "deliver", "1.5", None, None, "3 hours"),
    "a_junk": ("d1", "boss", "junk", "7", None, None, "2 hours"),
    "a_reject": ("d1", "alice", "reject", None, "550 5.7.1 rejected by DMARC", None,
                 "1 hour"),
    "c_quar": ("d1b", "carol", "quarantine", "12.5", "virus: Eicar-Test", "Eicar-Test",
               "30 minutes"),
    "b_tag": ("d2", "bob", "tag", "5.5", None, None, "10 minutes"),
}
NEWEST_FIRST = ["b_tag", "c_quar", "a_reject", "a_junk", "a_deliver"]


def sql_str(s):
    return "NULL" if s is None else "'" + s.replace("'", "''") + "'"


def add_row(stack, domain, local, action, score=None, reason=None, virus=None,
            age="0 seconds", sender="x@example.net", queue_id="Q1"):
    """One security log row for local@domain created age ago; its id."""
    tid, did = stack.psql(f"SELECT tenant_id, id FROM domains WHERE name = {sql_str(domain)}")[0]
    rows = stack.psql(
        "INSERT INTO security_log (tenant_id, domain_id, created_at, queue_id, client_ip, "
        "sender, recipient, action, reason, spf, dkim, dmarc, spam_score, virus) VALUES "
        f"({tid}, {did}, now() - interval {sql_str(age)}, {sql_str(queue_id)}, "
        f"'192.0.2.7', {sql_str(sender)}, {sql_str(local + '@' + domain)}, "
        f"{sql_str(action)}, {sql_str(reason)}, 'pass', 'none', 'fail', "
        f"{score if score is not None else 'NULL'}, {sql_str(virus)}) RETURNING id")
    return int(rows[0][0])


@pytest.fixture(scope="module")
def rows(world, stack):
    w = world
    return {key: add_row(stack, w.d(dom), local, action, score, reason, virus, age,
                         sender=f"spam-{w.u}@Evil.example", queue_id=f"{key}-{w.u}")
            for key, (dom, local, action, score, reason, virus, age) in ROWS.items()}


def ok(r, status=200):
    assert r.status == status, r
    return r.json


def keys(page, rows):
    """The keys of this module's rows on page, in page order."""
    mine = {v: k for k, v in rows.items()}
    return [mine[i["id"]] for i in page["items"] if i["id"] in mine]


def mine(world):
    """The query part selecting this module's rows by their sender."""
    return f"limit=500&sender={world.u}"


def test_provider_sees_all_newest_first(world, rows):
    w = world
    page = ok(w.provider.get(f"/api/v1/security-log?{mine(w)}"))
    assert keys(page, rows) == NEWEST_FIRST
    assert page["next_cursor"] is None
    c = next(i for i in page["items"] if i["id"] == rows["c_quar"])
    assert c == {
        "id": rows["c_quar"], "created_at": c["created_at"], "queue_id": f"c_quar-{w.u}",
        "client_ip": "192.0.2.7", "sender": f"spam-{w.u}@Evil.example",
        "recipient": f"carol@{w.d('d1b')}", "domain": w.d("d1b"), "action": "quarantine",
        "reason": "virus: Eicar-Test", "spf": "pass", "dkim": "none", "dmarc": "fail",
        "spam_score": 12.5, "virus": "Eicar-Test"}
    assert c["created_at"].endswith("Z")
    r = next(i for i in page["items"] if i["id"] == rows["a_reject"])
    assert r["spam_score"] is None and r["virus"] is None
    # the default is newest first; ascending on request
    asc = ok(w.provider.get(f"/api/v1/security-log?{mine(w)}&sort=created_at"))
    assert keys(asc, rows) == NEWEST_FIRST[::-1]
    assert keys(ok(w.provider.get(f"/api/v1/security-log?{mine(w)}&sort=-created_at")),
                rows) == NEWEST_FIRST


def test_tenant_and_reseller_scopes(world, rows):
    w = world
    t1 = w.clients["tenant t1"]
    assert keys(ok(t1.get(f"/api/v1/security-log?{mine(w)}")), rows) == [
        "c_quar", "a_reject", "a_junk", "a_deliver"]
    # nothing of another tenant, not even unfiltered
    assert "b_tag" not in keys(ok(t1.get("/api/v1/security-log?limit=500")), rows)
    assert keys(ok(w.clients["tenant t2"].get(f"/api/v1/security-log?{mine(w)}")),
                rows) == ["b_tag"]
    assert keys(ok(w.clients["reseller r1"].get(f"/api/v1/security-log?{mine(w)}")),
                rows) == ["c_quar", "a_reject", "a_junk", "a_deliver"]
    assert keys(ok(w.clients["reseller r2"].get(f"/api/v1/security-log?{mine(w)}")),
                rows) == ["b_tag"]
    assert keys(ok(w.clients["reseller r1a"].get(f"/api/v1/security-log?{mine(w)}")),
                rows) == []
    for r in (t1.get(f"/api/v1/domains/{w.d('d2')}/security-log"),
              w.clients["reseller r1a"].get(f"/api/v1/domains/{w.d('d1')}/security-log"),
              t1.get("/api/v1/domains/no-such-domain.test/security-log")):
        assert r.status == 404, r
        assert "items" not in r.json
    assert keys(ok(t1.get(f"/api/v1/domains/{w.d('d1b')}/security-log")), rows) == ["c_quar"]


def test_domain_admin_sees_its_domain_only(world, rows):
    w = world
    d1 = w.clients["domain d1"]
    want = ["a_reject", "a_junk", "a_deliver"]
    assert keys(ok(d1.get("/api/v1/security-log?limit=500")), rows) == want
    assert keys(ok(d1.get(f"/api/v1/domains/{w.d('d1')}/security-log")), rows) == want
    for dom in ("d1b", "d2"):
        r = d1.get(f"/api/v1/domains/{w.d(dom)}/security-log")
        assert r.status == 404, r
        assert "items" not in r.json
    assert keys(ok(w.provider.get(f"/api/v1/domains/{w.d('d2')}/security-log")),
                rows) == ["b_tag"]


def test_lesser_roles_are_denied(world, rows):
    w = world
    for role in ("assistant d1", "department sales", "user alice"):
        c = w.clients[role]
        for r in (c.get("/api/v1/security-log"),
                  c.get(f"/api/v1/domains/{w.d('d1')}/security-log")):
            assert r.status == 403, (role, r)
            assert "items" not in r.json


def test_filters(world, rows):
    w, p = world, world.provider
    base = f"/api/v1/security-log?{mine(w)}"
    assert keys(ok(p.get(base + "&action=junk")), rows) == ["a_junk"]
    assert keys(ok(p.get(base + "&action=tempfail")), rows) == []
    assert keys(ok(p.get(base + "&min_score=5.5")), rows) == ["b_tag", "c_quar", "a_junk"]
    assert keys(ok(p.get(base + "&min_score=7")), rows) == ["c_quar", "a_junk"]
    assert keys(ok(p.get(base + "&recipient=BOSS@")), rows) == ["a_junk"]
    assert keys(ok(p.get(base + f"&recipient=alice@{w.d('d1')}")), rows) == [
        "a_reject", "a_deliver"]
    assert keys(ok(p.get(f"/api/v1/security-log?limit=500&sender=SPAM-{w.u}@evil")),
                rows) == NEWEST_FIRST
    assert keys(ok(p.get(base + "&sender=nobody-sends-this")), rows) == []
    # since / until around the row made 1 hour ago
    page = ok(p.get(base))
    at = next(i["created_at"] for i in page["items"] if i["id"] == rows["a_reject"])
    since = urllib.parse.quote(at)  # whole seconds: the row is at or after it
    assert keys(ok(p.get(base + f"&since={since}")), rows) == ["b_tag", "c_quar", "a_reject"]
    assert keys(ok(p.get(base + f"&until={since}")), rows) == ["a_junk", "a_deliver"]
    assert keys(ok(p.get(f"/api/v1/domains/{w.d('d1')}/security-log?action=deliver"
                         "&min_score=1")), rows) == ["a_deliver"]
    for bad, field in (("action=ham", "action"), ("min_score=lots", "min_score"),
                       ("min_score=", "min_score"), ("since=yesterday", "since"),
                       ("until=2025-13-01T00:00:00Z", "until"), ("sort=id", "sort"),
                       ("cursor=garbage!", "cursor")):
        r = p.get(f"/api/v1/security-log?{bad}")
        assert r.status == 422, (bad, r)
        assert field in [e["field"] for e in r.json["errors"]], (bad, r.json)


def follow(client, path):
    """Every id of every page of path, following next_cursor."""
    seen, cursor = [], None
    for _ in range(20):
        sep = "&" if "?" in path else "?"
        page = ok(client.get(path + (f"{sep}cursor={cursor}" if cursor else "")))
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages do not end")


def test_pages_follow_the_cursor(world, rows):
    w = world
    d1 = f"/api/v1/domains/{w.d('d1')}/security-log"
    want = [rows[k] for k in ("a_reject", "a_junk", "a_deliver")]
    assert follow(w.provider, d1 + "?limit=1") == want
    assert follow(w.clients["domain d1"], d1 + "?limit=2&sort=created_at") == want[::-1]
    assert follow(w.clients["tenant t1"],
                  f"/api/v1/security-log?limit=2&sender={w.u}") == [
        rows[k] for k in ("c_quar", "a_reject", "a_junk", "a_deliver")]


def mailctl(stack, *args):
    r = subprocess.run([os.path.join(stack.bin, "mailctl"), "-c", stack.conf, *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_mailctl_op(world, rows, stack):
    w = world
    out = json.loads(mailctl(stack, "op", "security.list_domain", w.d("d2"),
                             "--filter", f"sender={w.u}"))
    assert keys(out, rows) == ["b_tag"]
    out = json.loads(mailctl(stack, "op", "security.list", "--filter", "action=junk",
                             "--filter", f"sender={w.u}"))
    assert keys(out, rows) == ["a_junk"]


def test_maintenance_purges_rows_older_than_30_days(world, stack):
    w = world
    d = w.d("d1")
    old = add_row(stack, d, "alice", "deliver", age="31 days", sender=f"old-{w.u}@x.example")
    edge = add_row(stack, d, "alice", "deliver", age="29 days", sender=f"edge-{w.u}@x.example")
    fresh = add_row(stack, d, "alice", "deliver", sender=f"fresh-{w.u}@x.example")
    page = ok(w.provider.get(f"/api/v1/domains/{d}/security-log?limit=500&sort=created_at"))
    assert page["items"][0]["id"] == old
    mailctl(stack, "maintain")
    left = {int(r[0]) for r in stack.psql(
        f"SELECT id FROM security_log WHERE id IN ({old}, {edge}, {fresh})")}
    assert left == {edge, fresh}
    ids = [i["id"] for i in ok(w.provider.get(
        f"/api/v1/domains/{d}/security-log?limit=500"))["items"]]
    assert old not in ids and edge in ids and fresh in ids
