"""The outbound queue over the REST API: entries of two tenants (inserted
as mc-store writes them: a message row, a queue row holding a reference
on it, its recipients), listed and acted on by the provider, a reseller,
tenant and domain admins, each inside its own scope only (others' queue
ids are 404, lesser roles 403), with an audit record for every change.
Every response is checked against api/openapi.yaml."""
import datetime

import pytest

from api_world import api, webd, world  # noqa: F401 (fixtures)


def q(stack, sql):
    return stack.psql(sql)


def tenant_id(stack, name):
    return int(q(stack, f"SELECT id FROM tenants WHERE name = '{name}'")[0][0])


def add_entry(stack, tid, queue_id, sender, rcpts):
    """One queue entry of tenant tid: message row, queue row, recipients
    [(address, state)]."""
    sha = (queue_id.encode().hex() * 8)[:64]
    mid = q(stack, f"INSERT INTO messages (tenant_id, sha256, size_bytes, refcount, "
                   f"envelope, body, bodystructure) VALUES ({tid}, '{sha}', 1234, 1, "
                   f"'', '', '') RETURNING id")[0][0]
    eid = q(stack, f"INSERT INTO queue (tenant_id, queue_id, message_id, sender, "
                   f"size_bytes, client_ip, created_at) VALUES ({tid}, '{queue_id}', "
                   f"{mid}, '{sender}', 1234, '192.0.2.7', now() - interval '2 hours') "
                   f"RETURNING id")[0][0]
    for addr, state in rcpts:
        err = "'remote said 451 4.7.1 later'" if state == "deferred" else "NULL"
        q(stack, f"INSERT INTO queue_recipients (tenant_id, queue_entry, address, state, "
                 f"attempts, next_attempt, last_error) VALUES ({tid}, {eid}, '{addr}', "
                 f"'{state}', {1 if state == 'deferred' else 0}, "
                 f"now() + interval '1 hour', {err})")


@pytest.fixture(scope="module")
def queue(world, stack):
    """Queue ids: a1 (t1, from d1), a2 (t1, from d1b), b1 (t2, from d2),
    b2 (t2, from d2, to be dropped)."""
    w = world
    ids = {k: f"{w.u}{k.upper()}" for k in ("a1", "a2", "b1", "b2")}
    t1, t2 = tenant_id(stack, w.n("t1")), tenant_id(stack, w.n("t2"))
    add_entry(stack, t1, ids["a1"], f"alice@{w.d('d1')}",
              [("x@remote.example", "queued"), ("y@remote.example", "deferred")])
    add_entry(stack, t1, ids["a2"], f"carol@{w.d('d1b')}",
              [("z@other.example", "queued"), ("z2@other.example", "queued")])
    add_entry(stack, t2, ids["b1"], f"bob@{w.d('d2')}", [("w@remote.example", "queued")])
    add_entry(stack, t2, ids["b2"], f"bob@{w.d('d2')}", [("v@remote.example", "queued")])
    return ids


def ours(page, ids):
    """The queue ids of page that this module created."""
    mine = set(ids.values())
    return sorted(e["queue_id"] for e in page["items"] if e["queue_id"] in mine)


def ok(r, status=200):
    assert r.status == status, r
    return r.json


def test_provider_lists_everything_and_filters(world, queue):
    w, p = world, world.provider
    page = ok(p.get("/api/v1/queue?limit=500"))
    assert ours(page, queue) == sorted(queue.values())
    e = next(e for e in page["items"] if e["queue_id"] == queue["a1"])
    assert e["tenant"] == w.n("t1") and e["sender"] == f"alice@{w.d('d1')}"
    assert e["state"] == "queued" and e["size_bytes"] == 1234
    assert e["client_ip"] == "192.0.2.7"
    assert sorted((r["address"], r["state"]) for r in e["recipients"]) == [
        ("x@remote.example", "queued"), ("y@remote.example", "deferred")]
    deferred = next(r for r in e["recipients"] if r["state"] == "deferred")
    assert deferred["attempts"] == 1 and "4.7.1" in deferred["last_error"]
    t1 = ok(p.get(f"/api/v1/queue?limit=500&tenant={w.n('t1')}"))
    assert ours(t1, queue) == sorted([queue["a1"], queue["a2"]])
    d1 = ok(p.get(f"/api/v1/queue?domain={w.d('d1')}"))
    assert ours(d1, queue) == [queue["a1"]]
    st = ok(p.get("/api/v1/queue?limit=500&state=deferred"))
    assert ours(st, queue) == [queue["a1"]]
    rc = ok(p.get("/api/v1/queue?limit=500&recipient=z2@other"))
    assert ours(rc, queue) == [queue["a2"]]
    se = ok(p.get(f"/api/v1/queue?limit=500&sender=bob@{w.d('d2')}"))
    assert ours(se, queue) == sorted([queue["b1"], queue["b2"]])
    old = ok(p.get(f"/api/v1/queue?limit=500&older_than=60&tenant={w.n('t2')}"))
    assert ours(old, queue) == sorted([queue["b1"], queue["b2"]])
    new = ok(p.get(f"/api/v1/queue?older_than=86400&tenant={w.n('t2')}"))
    assert ours(new, queue) == []
    assert p.get("/api/v1/queue?state=bogus").status == 422
    assert p.get("/api/v1/queue?older_than=soon").status == 422
    assert p.get("/api/v1/queue?tenant=no-such-tenant-x").status == 404


def test_pages_follow_the_cursor(world, queue):
    w = world
    seen, cursor = [], None
    for _ in range(5):
        path = f"/api/v1/tenants/{w.n('t1')}/queue?limit=1"
        page = ok(w.provider.get(path + (f"&cursor={cursor}" if cursor else "")))
        assert len(page["items"]) <= 1
        seen += [e["queue_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted([queue["a1"], queue["a2"]])


def test_tenant_admin_sees_only_its_tenant(world, queue):
    w = world
    c = w.clients["tenant t1"]
    page = ok(c.get("/api/v1/queue?limit=500"))
    assert ours(page, queue) == sorted([queue["a1"], queue["a2"]])
    assert {e["tenant"] for e in page["items"]} == {w.n("t1")}
    page = ok(c.get(f"/api/v1/tenants/{w.n('t1')}/queue"))
    assert ours(page, queue) == sorted([queue["a1"], queue["a2"]])
    assert ok(c.get(f"/api/v1/queue/{queue['a2']}"))["queue_id"] == queue["a2"]
    b1 = queue["b1"]
    for r in (c.get(f"/api/v1/tenants/{w.n('t2')}/queue"),
              c.get(f"/api/v1/domains/{w.d('d2')}/queue"),
              c.get(f"/api/v1/queue?tenant={w.n('t2')}"),
              c.get(f"/api/v1/queue/{b1}"),
              c.post(f"/api/v1/queue/{b1}/hold"),
              c.post(f"/api/v1/queue/{b1}/release"),
              c.post(f"/api/v1/queue/{b1}/retry"),
              c.delete(f"/api/v1/queue/{b1}?bounce=true"),
              c.delete(f"/api/v1/queue/{b1}"),
              c.get("/api/v1/queue/no-such-entry")):
        assert r.status == 404, r
        assert r.header("content-type").startswith("application/problem+json")
        for member in ("items", "sender", "recipients", "tenant"):
            assert member not in r.json, r
    # nothing happened to it
    e = ok(w.provider.get(f"/api/v1/queue/{b1}"))
    assert e["state"] == "queued" and e["recipients"][0]["state"] == "queued"


def test_domain_admin_sees_only_its_domain(world, queue):
    w = world
    c = w.clients["domain d1"]
    page = ok(c.get("/api/v1/queue?limit=500"))
    assert ours(page, queue) == [queue["a1"]]
    for e in page["items"]:
        assert e["sender"].endswith("@" + w.d("d1")), e
    assert ours(ok(c.get(f"/api/v1/domains/{w.d('d1')}/queue")), queue) == [queue["a1"]]
    assert c.get(f"/api/v1/queue/{queue['a1']}").status == 200
    for r in (c.get(f"/api/v1/queue/{queue['a2']}"),
              c.post(f"/api/v1/queue/{queue['a2']}/hold"),
              c.delete(f"/api/v1/queue/{queue['a2']}"),
              c.get(f"/api/v1/domains/{w.d('d1b')}/queue"),
              c.get(f"/api/v1/queue?domain={w.d('d1b')}")):
        assert r.status == 404, r
    # its tenant's queue is above it
    assert c.get(f"/api/v1/tenants/{w.n('t1')}/queue").status == 403


def test_resellers_and_lesser_roles(world, queue):
    w = world
    r1 = w.clients["reseller r1"]
    assert ours(ok(r1.get("/api/v1/queue?limit=500")), queue) == sorted(
        [queue["a1"], queue["a2"]])
    assert r1.get(f"/api/v1/queue/{queue['b1']}").status == 404
    assert r1.get(f"/api/v1/queue?tenant={w.n('t2')}").status == 404
    r2 = w.clients["reseller r2"]
    assert ours(ok(r2.get("/api/v1/queue?limit=500")), queue) == sorted(
        [queue["b1"], queue["b2"]])
    # r1a has a tenant (t1a) with nothing queued
    assert ours(ok(w.clients["reseller r1a"].get("/api/v1/queue")), queue) == []
    for role in ("assistant d1", "department sales", "user alice"):
        c = w.clients[role]
        for r in (c.get("/api/v1/queue"), c.get(f"/api/v1/queue/{queue['a1']}"),
                  c.post(f"/api/v1/queue/{queue['a1']}/hold"),
                  c.get(f"/api/v1/domains/{w.d('d1')}/queue")):
            assert r.status == 403, (role, r)
            assert "items" not in r.json and "queue_id" not in r.json


def test_hold_release_retry(world, queue):
    w = world
    c = w.clients["tenant t1"]
    a1 = queue["a1"]
    e = ok(c.post(f"/api/v1/queue/{a1}/hold", {"reason": "spam check"}))
    assert e["state"] == "held" and e["held_reason"] == "spam check"
    held = ok(c.get("/api/v1/queue?state=held&limit=500"))
    assert a1 in ours(held, queue)
    assert c.post(f"/api/v1/queue/{a1}/hold", {"colour": "red"}).status == 422
    e = ok(w.clients["domain d1"].post(f"/api/v1/queue/{a1}/release"))
    assert e["state"] == "queued"
    e = ok(c.post(f"/api/v1/queue/{a1}/retry"))
    soon = (datetime.datetime.now(datetime.timezone.utc)
            + datetime.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for r in e["recipients"]:
        # due now, no longer an hour ahead
        assert r["next_attempt"] is None or r["next_attempt"] < soon, r


def test_delete_with_and_without_bounce(world, queue, stack):
    w = world
    c = w.clients["tenant t1"]
    a2 = queue["a2"]
    assert c.delete(f"/api/v1/queue/{a2}?bounce=maybe").status == 422
    r = c.delete(f"/api/v1/queue/{a2}?bounce=true")
    assert r.status == 204, r
    # the recipients wait for their DSN (no mc-deliverd runs here)
    states = q(stack, "SELECT r.state FROM queue_recipients r JOIN queue e ON "
                      "e.tenant_id = r.tenant_id AND e.id = r.queue_entry "
                      f"WHERE e.queue_id = '{a2}'")
    assert states and {s[0] for s in states} <= {"failed", "bounced"}, states
    b2 = queue["b2"]
    r = w.clients["tenant t2"].delete(f"/api/v1/queue/{b2}")
    assert r.status == 204, r
    assert w.provider.get(f"/api/v1/queue/{b2}").status == 404
    assert q(stack, f"SELECT count(*) FROM queue WHERE queue_id = '{b2}'") == [["0"]]


def test_changes_are_audited(world, queue):
    w = world
    holds = ok(w.clients["tenant t1"].get("/api/v1/audit?action=queue.hold&limit=500"))
    recs = [r for r in holds["items"] if r["target"] == f"queue {queue['a1']}"]
    assert recs, holds
    rec = recs[0]
    assert rec["tenant"] == w.n("t1") and rec["domain"] == w.d("d1")
    assert rec["changes"]["state"] == "held" and rec["role"] == "tenant"
    # the domain admin reads its domain's records: the hold and its release
    page = ok(w.clients["domain d1"].get("/api/v1/audit?limit=500"))
    actions = {r["action"] for r in page["items"] if r["target"] == f"queue {queue['a1']}"}
    assert {"queue.hold", "queue.release", "queue.retry"} <= actions, actions
    page = ok(w.provider.get("/api/v1/audit?action=queue.delete&limit=500"))
    dels = {r["target"]: r["changes"] for r in page["items"]}
    assert dels[f"queue {queue['a2']}"] == {"bounce": True}
    assert dels[f"queue {queue['b2']}"] == {"bounce": False}
    # tenant t2 sees its own delete, not t1's records
    page = ok(w.clients["tenant t2"].get("/api/v1/audit?limit=500"))
    targets = {r["target"] for r in page["items"]}
    assert f"queue {queue['b2']}" in targets
    assert f"queue {queue['a1']}" not in targets
