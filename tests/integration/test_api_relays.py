"""Relay routes (the smarthosts of mc-deliverd) and the per-tenant queue
lifetime over the REST API: the provider adds, lists and deletes routes;
bad bodies are problem documents naming the field; the AUTH password is
never returned nor audited; every other role is refused; each change is
audited. Every response is checked against api/openapi.yaml."""
import json

import pytest

from api_world import api, must, webd, world  # noqa: F401 (fixtures)

SECRET = "s3cret-Relay-Pw"
ROUTES = "/api/v1/relay-routes"


@pytest.fixture(scope="module")
def made(world, stack):
    """Route ids this module creates; all deleted at the end."""
    ids = []
    yield ids
    if ids:
        stack.psql(f"DELETE FROM relay_routes WHERE id IN ({','.join(map(str, ids))})")


def create(world, made, body, status=201):
    r = world.provider.post(ROUTES, body)
    assert r.status == status, r
    if status == 201:
        made.append(r.json["id"])
    return r


def listed(world, query=""):
    """The provider's list (every page) as {id: route}."""
    out, cursor = {}, None
    while True:
        q = f"?limit=500{query}" + (f"&cursor={cursor}" if cursor else "")
        r = world.provider.get(ROUTES + q)
        assert r.status == 200, r
        assert SECRET not in r.text
        out.update({i["id"]: i for i in r.json["items"]})
        cursor = r.json["next_cursor"]
        if cursor is None:
            return out


def test_provider_adds_lists_and_deletes(world, made):
    w = world
    rcpt = f"Rcpt-{w.u}.TEST"
    a = create(w, made, {"kind": "recipient_domain", "match": rcpt,
                         "host": "Smart.Example.NET", "auth_user": "relay",
                         "auth_password": SECRET}).json
    assert a["kind"] == "recipient_domain" and a["match"] == rcpt.lower()
    assert a["host"] == "smart.example.net" and a["port"] == 25
    assert a["tenant"] is None and a["auth_user"] == "relay"
    assert a["tls"] == "required" and a["priority"] == 0
    assert "auth_password" not in a
    b = create(w, made, {"kind": "tenant", "tenant": w.n("t1"), "host": "192.0.2.25",
                         "port": 2525, "tls": "none", "priority": 5}).json
    assert (b["tenant"], b["port"], b["tls"], b["priority"]) == (w.n("t1"), 2525, "none", 5)
    c = create(w, made, {"kind": "sender_domain", "tenant": w.n("t1"),
                         "match": w.d("d1"), "host": "[2001:db8::25]"}).json
    assert c["host"] == "2001:db8::25" and c["tls"] == "opportunistic"
    assert c["auth_user"] is None
    everything = listed(w)
    assert {a["id"], b["id"], c["id"]} <= set(everything)
    assert everything[a["id"]] == a
    assert set(listed(w, f"&tenant={w.n('t1')}")) == {b["id"], c["id"]}
    assert set(listed(w, f"&tenant={w.n('t1')}&kind=tenant")) == {b["id"]}
    assert a["id"] in listed(w, f"&q=rcpt-{w.u}")
    assert w.provider.get(ROUTES + "?sort=-priority").status == 200
    # routes are never changed: version 1, If-Match checked on delete
    r = w.provider.delete(f"{ROUTES}/{b['id']}", headers={"If-Match": '"2"'})
    assert r.status == 412, r
    assert w.provider.delete(f"{ROUTES}/{b['id']}", headers={"If-Match": '"1"'}).status == 204
    assert w.provider.delete(f"{ROUTES}/{a['id']}").status == 204
    assert w.provider.delete(f"{ROUTES}/{a['id']}").status == 404
    assert w.provider.delete(f"{ROUTES}/999999999").status == 404
    assert w.provider.delete(f"{ROUTES}/x").status == 404
    left = listed(w)
    assert a["id"] not in left and b["id"] not in left and c["id"] in left


def test_duplicate_is_a_conflict(world, made):
    w = world
    body = {"kind": "recipient_domain", "match": f"dup-{w.u}.test", "host": "mx.example.org"}
    create(w, made, body)
    r = create(w, made, body, status=409)
    assert r.json["type"].endswith("/conflict")
    create(w, made, dict(body, port=587))  # another port is another route


BAD = [
    ({"host": "h.example"}, "kind"),
    ({"kind": "everything", "host": "h.example"}, "kind"),
    ({"kind": "tenant", "host": "h.example"}, "tenant"),
    ({"kind": "all", "match": "x.example", "host": "h.example"}, "match"),
    ({"kind": "tenant", "tenant": "T1", "match": "x.example", "host": "h.example"}, "match"),
    ({"kind": "recipient_domain", "host": "h.example"}, "match"),
    ({"kind": "sender_domain", "match": "not a domain", "host": "h.example"}, "match"),
    ({"kind": "recipient_domain", "match": 42, "host": "h.example"}, "match"),
    ({"kind": "all", "tenant": "T1"}, "host"),
    ({"kind": "all", "tenant": "T1", "host": "bad host!"}, "host"),
    ({"kind": "all", "tenant": "T1", "host": "300.1.1.1"}, "host"),
    ({"kind": "all", "tenant": "T1", "host": "[192.0.2.1]"}, "host"),
    ({"kind": "all", "tenant": "T1", "host": "-bad.example"}, "host"),
    ({"kind": "all", "tenant": "T1", "host": "a..b"}, "host"),
    ({"kind": "all", "tenant": "T1", "host": "h.example", "port": 0}, "port"),
    ({"kind": "all", "tenant": "T1", "host": "h.example", "port": 65536}, "port"),
    ({"kind": "all", "tenant": "T1", "host": "h.example", "port": "25"}, "port"),
    ({"kind": "all", "tenant": "T1", "host": "h.example", "auth_user": "u"}, "auth_password"),
    ({"kind": "all", "tenant": "T1", "host": "h.example", "auth_password": "p"}, "auth_user"),
    ({"kind": "all", "tenant": "T1", "host": "h.example", "tls": "always"}, "tls"),
    ({"kind": "all", "tenant": "T1", "host": "h.example", "priority": 10 ** 7}, "priority"),
    ({"kind": "all", "tenant": "T1", "host": "h.example", "password": "p"}, "password"),
    ({"kind": "all", "tenant": "no-such-tenant-x", "host": "h.example"}, "tenant"),
]


@pytest.mark.parametrize("body,field", BAD)
def test_bad_bodies_name_the_field(world, made, body, field):
    if body.get("tenant") == "T1":
        body = dict(body, tenant=world.n("t1"))
    r = create(world, made, body, status=422)
    assert r.json["type"].endswith("/invalid")
    assert field in [e["field"] for e in r.json["errors"]], r.json


def test_malformed_json_is_bad_request(world):
    r = world.provider.request("POST", ROUTES, raw=b"{nope",
                               content_type="application/json")
    assert r.status == 400, r


def test_other_roles_are_refused(world, made):
    w = world
    route = create(w, made, {"kind": "tenant", "tenant": w.n("t1"),
                             "host": "refuse.example"}).json
    body = {"kind": "tenant", "tenant": w.n("t1"), "host": "sneaky.example"}
    for who, c in w.clients.items():
        if who == "provider":
            continue
        assert c.get(ROUTES).status == 403, who
        assert c.post(ROUTES, body).status == 403, who
        assert c.delete(f"{ROUTES}/{route['id']}").status == 403, who
        assert c.delete(f"{ROUTES}/999999999").status == 403, who
    assert route["id"] in listed(w)
    assert "sneaky.example" not in json.dumps(list(listed(w).values()))


def audit(client, action, target=None):
    query = f"action={action}&limit=500"
    if target is not None:
        query += f"&target={target.replace(' ', '%20')}"
    r = client.get(f"/api/v1/audit?{query}")
    assert r.status == 200, r
    return r.json["items"]


def test_changes_are_audited_without_the_password(world, made):
    w = world
    r = create(w, made, {"kind": "all", "tenant": w.n("t2"), "host": "audit.example",
                         "port": 465, "auth_user": "au", "auth_password": SECRET,
                         "tls": "verify"}).json
    target = f"relay route {r['id']}"
    [rec] = audit(w.provider, "relay.create", target)
    assert rec["role"] == "provider"
    ch = rec["changes"]
    assert ch["host"] == "audit.example" and ch["port"] == 465 and ch["tls"] == "verify"
    assert ch["kind"] == "all" and ch["tenant"] == w.n("t2") and ch["auth_user"] == "au"
    assert ch["auth_password"] == "***"
    assert SECRET not in json.dumps(rec)
    assert rec["tenant"] == w.n("t2")
    # placed at its tenant: that tenant's admin reads it, another does not
    assert len(audit(w.clients["tenant t2"], "relay.create", target)) == 1
    assert audit(w.clients["tenant t1"], "relay.create", target) == []
    assert w.provider.delete(f"{ROUTES}/{r['id']}").status == 204
    [rec] = audit(w.provider, "relay.delete", target)
    assert rec["changes"]["host"] == "audit.example"
    # provider-wide routes are audited at the provider
    p = create(w, made, {"kind": "recipient_domain", "match": f"aud-{w.u}.test",
                         "host": "mx.audit.example"}).json
    [rec] = audit(w.provider, "relay.create", f"relay route {p['id']}")
    assert rec["tenant"] is None and "auth_password" not in rec["changes"]
    assert SECRET not in json.dumps(audit(w.provider, "relay.create"))


def test_tenant_queue_lifetime(world, stack):
    w, t = world, world.n("t2")
    url = f"/api/v1/tenants/{t}"
    assert must(w.provider.get(url), 200)["queue_lifetime"] is None
    got = must(w.provider.patch(url, {"queue_lifetime": 7200}), 200)
    assert got["queue_lifetime"] == 7200
    assert stack.psql(f"SELECT queue_lifetime FROM tenants WHERE name = '{t}'") == [["02:00:00"]]
    assert must(w.provider.get(url), 200)["queue_lifetime"] == 7200
    page = must(w.provider.get(f"/api/v1/tenants?q={t}"), 200)
    assert [i["queue_lifetime"] for i in page["items"] if i["name"] == t] == [7200]
    [rec] = [x for x in audit(w.provider, "tenant.update", t)
             if "queue_lifetime" in x["changes"]][:1]
    assert rec["changes"]["queue_lifetime"] == 7200
    for bad in (0, -5, 60 * 86400 + 1, "2h", 1.5):
        r = w.provider.patch(url, {"queue_lifetime": bad})
        assert r.status == 422, (bad, r)
        assert r.json["errors"][0]["field"] == "queue_lifetime"
    assert must(w.provider.patch(url, {"queue_lifetime": 60 * 86400}), 200)[
        "queue_lifetime"] == 60 * 86400
    # the tenant admin reads it but may not change it; its reseller may
    assert must(w.clients["tenant t2"].get(url), 200)["queue_lifetime"] == 60 * 86400
    assert w.clients["tenant t2"].patch(url, {"queue_lifetime": 60}).status == 403
    assert must(w.clients["reseller r2"].patch(url, {"queue_lifetime": 60}), 200)[
        "queue_lifetime"] == 60
    assert must(w.provider.patch(url, {"queue_lifetime": None}), 200)["queue_lifetime"] is None
    assert stack.psql(f"SELECT queue_lifetime IS NULL FROM tenants WHERE name = '{t}'") == [["t"]]
