"""Sender allow and block lists over the REST API (sender_lists.*): a
domain's own entries and its users' entries, made, listed and removed by
tenant and domain admins of the domain (and above), a user managing its
own list only, assistants and department admins refused, other tenants'
entries not found; patterns checked and lower-cased, duplicates refused,
at most 1000 entries per domain; every change audited. mc-smtpd honours
an entry made through the API (blocked and allowed senders of one
domain), and maintenance builds the quarantine digest's release links on
[webd] public_url. Responses are checked against api/openapi.yaml."""
import os
import re
import subprocess

import pytest

from api_world import api, world  # noqa: F401 (fixtures)
from conftest import Daemon
from test_api_quarantine import add_item, digests_about, item_of
from test_smtpd_filters import World as SmtpWorld


@pytest.fixture(scope="module")
def webd(stack, tmp_path_factory):
    """This module's mc-webd; it sends no digests itself (its maintenance
    would race the public_url test's mailctl run)."""
    log = str(tmp_path_factory.mktemp("webd-sl") / "mc-webd.log")
    d = Daemon(stack, "mc-webd", log, env={"MAILCORE_WEBD_QUARANTINE_SECRET": ""})
    d.wait_for(" ready:")
    yield d
    d.stop()


def ok(r, status=200):
    assert r.status == status, r
    return r.json


def path(domain, entry=None):
    p = f"/api/v1/domains/{domain}/sender-lists"
    return p if entry is None else f"{p}/{entry}"


def entries(client, domain, query=""):
    page = ok(client.get(path(domain) + "?limit=500" + query))
    assert page["next_cursor"] is None
    return {(e["kind"], e["pattern"], e["user"]): e for e in page["items"]}


def test_domain_admin_manages_domain_and_user_entries(world, stack):
    w, d1 = world, world.d("d1")
    c = w.clients["domain d1"]
    r = c.post(path(d1), {"kind": "block", "pattern": f"@Spam-{w.u}.Example"})
    blk = ok(r, 201)
    assert blk["pattern"] == f"@spam-{w.u}.example" and blk["kind"] == "block"
    assert blk["user"] is None and blk["address"] is None and blk["domain"] == d1
    assert r.header("location") == path(d1, blk["id"])
    assert r.header("etag") == '"1"'
    alw = ok(c.post(path(d1), {"kind": "allow", "pattern": f"Friend@spam-{w.u}.example",
                               "user": "Alice"}), 201)
    assert alw["user"] == "alice" and alw["address"] == f"alice@{d1}"
    assert alw["pattern"] == f"friend@spam-{w.u}.example"
    mine = entries(c, d1)
    assert ("block", f"@spam-{w.u}.example", None) in mine
    assert ("allow", f"friend@spam-{w.u}.example", "alice") in mine
    assert set(entries(c, d1, "&user=alice")) == {("allow", f"friend@spam-{w.u}.example",
                                                   "alice")}
    assert all(k[2] is None for k in entries(c, d1, "&user=-"))
    assert all(k[0] == "block" for k in entries(c, d1, "&kind=block"))
    assert set(entries(c, d1, f"&q=FRIEND@SPAM-{w.u}")) == {
        ("allow", f"friend@spam-{w.u}.example", "alice")}
    assert c.get(path(d1) + "?kind=deny").status == 422
    # the store has what the API said
    rows = world_rows(stack, d1, blk["id"])
    assert rows == [["block", f"@spam-{w.u}.example", ""]]
    # a stale If-Match is refused, then the entry goes (once)
    assert c.delete(path(d1, blk["id"]), headers={"If-Match": '"2"'}).status == 412
    assert c.delete(path(d1, blk["id"]), headers={"If-Match": '"1"'}).status == 204
    assert ("block", f"@spam-{w.u}.example", None) not in entries(c, d1)
    assert c.delete(path(d1, blk["id"])).status == 404
    assert c.delete(path(d1, "999999999")).status == 404
    assert c.delete(path(d1, "abc")).status == 404


def world_rows(stack, domain, entry_id):
    return stack.psql(
        "SELECT s.kind, s.pattern, coalesce(u.local_part, '') FROM sender_lists s "
        "JOIN domains d ON d.tenant_id = s.tenant_id AND d.id = s.domain_id "
        "LEFT JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id "
        f"WHERE d.name = '{domain}' AND s.id = {int(entry_id)}")


def test_scope_across_tenants(world):
    w, d1, d1b, d2 = world, world.d("d1"), world.d("d1b"), world.d("d2")
    t1, t2 = w.clients["tenant t1"], w.clients["tenant t2"]
    e1 = ok(t1.post(path(d1b), {"kind": "block", "pattern": f"x@t1-{w.u}.example"}), 201)
    e2 = ok(t2.post(path(d2), {"kind": "block", "pattern": f"x@t2-{w.u}.example"}), 201)
    assert ("block", f"x@t1-{w.u}.example", None) in entries(t1, d1b)
    assert ("block", f"x@t1-{w.u}.example", None) in entries(w.clients["reseller r1"], d1b)
    assert ("block", f"x@t2-{w.u}.example", None) in entries(w.provider, d2)
    # other tenants' domains and entries are not found, never shown
    for r in (t1.get(path(d2)), t1.post(path(d2), {"kind": "allow", "pattern": "@a.example"}),
              t1.delete(path(d2, e2["id"])), t1.delete(path(d1b, e2["id"])),
              t2.get(path(d1b)), t2.delete(path(d1b, e1["id"])),
              t2.delete(path(d2, e1["id"])),
              w.clients["reseller r2"].get(path(d1b)),
              w.clients["reseller r1a"].get(path(d1b)),
              w.clients["domain d1"].get(path(d1b)),
              w.clients["domain d1"].delete(path(d1, e1["id"]))):
        assert r.status == 404, r
        assert "items" not in r.json and "pattern" not in r.json
    assert ("block", f"x@t1-{w.u}.example", None) in entries(t1, d1b)
    assert ("block", f"x@t2-{w.u}.example", None) in entries(t2, d2)
    assert t2.delete(path(d2, e2["id"])).status == 204


def test_user_manages_its_own_list_only(world):
    w, d1 = world, world.d("d1")
    alice, admin = w.clients["user alice"], w.clients["domain d1"]
    dom = ok(admin.post(path(d1), {"kind": "block", "pattern": f"@dom-{w.u}.example"}), 201)
    boss = ok(admin.post(path(d1), {"kind": "block", "pattern": f"@boss-{w.u}.example",
                                    "user": "boss"}), 201)
    own = ok(alice.post(path(d1), {"kind": "allow", "pattern": f"pal@dom-{w.u}.example"}), 201)
    assert own["user"] == "alice" and own["address"] == f"alice@{d1}"
    named = ok(alice.post(path(d1), {"kind": "block", "pattern": f"@own-{w.u}.example",
                                     "user": "alice"}), 201)
    assert named["user"] == "alice"
    r = alice.post(path(d1), {"kind": "allow", "pattern": f"@x-{w.u}.example", "user": "boss"})
    assert r.status == 403, r
    r = alice.post(path(d1), {"kind": "allow", "pattern": f"@x-{w.u}.example",
                              "user": "nobody"})
    assert r.status == 403, r
    seen = entries(alice, d1)
    assert all(k[2] == "alice" for k in seen), seen
    assert ("allow", f"pal@dom-{w.u}.example", "alice") in seen
    assert ("block", f"@own-{w.u}.example", "alice") in seen
    # the domain's and boss's entries: not hers, not found
    for e in (dom, boss):
        assert alice.delete(path(d1, e["id"])).status == 404
    assert ("block", f"@dom-{w.u}.example", None) in entries(admin, d1)
    assert ("block", f"@boss-{w.u}.example", "boss") in entries(admin, d1)
    assert alice.delete(path(d1, own["id"])).status == 204
    assert ("allow", f"pal@dom-{w.u}.example", "alice") not in entries(alice, d1)
    # another domain is not found
    assert alice.get(path(w.d("d1b"))).status == 404
    assert alice.post(path(w.d("d1b")), {"kind": "allow", "pattern": "@a.example"}).status == 404


def test_assistants_and_department_admins_are_denied(world):
    w, d1 = world, world.d("d1")
    e = ok(w.clients["domain d1"].post(path(d1), {"kind": "allow",
                                                  "pattern": f"@asst-{w.u}.example"}), 201)
    for role in ("assistant d1", "department sales"):
        c = w.clients[role]
        for r in (c.get(path(d1)),
                  c.post(path(d1), {"kind": "allow", "pattern": f"@no-{w.u}.example"}),
                  c.post(path(d1), {"kind": "allow", "pattern": f"@no-{w.u}.example",
                                    "user": "alice"}),
                  c.delete(path(d1, e["id"]))):
            assert r.status == 403, (role, r)
    assert ("allow", f"@asst-{w.u}.example", None) in entries(w.provider, d1)
    assert ("allow", f"@no-{w.u}.example", None) not in entries(w.provider, d1)


@pytest.mark.parametrize("pattern", [
    "nobody", "@", "a@", "@nodot", "a@nodot", "a@@b.example", "a@b@c.example", "@b..example",
    "a b@c.example", "@-bad-.example", "", "x" * 400 + "@b.example", 12, None])
def test_bad_patterns_are_refused(world, pattern):
    w, d1 = world, world.d("d1")
    r = w.clients["domain d1"].post(path(d1), {"kind": "block", "pattern": pattern})
    assert r.status == 422, r
    assert r.json["errors"][0]["field"] == "pattern", r.json


def test_bad_bodies_and_duplicates(world):
    w, d1 = world, world.d("d1")
    c = w.clients["domain d1"]
    for body, field in (({"kind": "deny", "pattern": "@a.example"}, "kind"),
                        ({"pattern": "@a.example"}, "kind"),
                        ({"kind": "allow"}, "pattern"),
                        ({"kind": "allow", "pattern": "@a.example", "user": "nobody"}, "user"),
                        ({"kind": "allow", "pattern": "@a.example", "user": ""}, "user"),
                        ({"kind": "allow", "pattern": "@a.example", "extra": 1}, "extra")):
        r = c.post(path(d1), body)
        assert r.status == 422, (body, r)
        assert r.json["errors"][0]["field"] == field, (body, r.json)
    pat = f"Dup@dup-{w.u}.example"
    ok(c.post(path(d1), {"kind": "block", "pattern": pat}), 201)
    r = c.post(path(d1), {"kind": "block", "pattern": pat.lower()})
    assert r.status == 409 and r.json["type"].endswith("/conflict"), r
    # the other kind, and a user's list, are other lists
    ok(c.post(path(d1), {"kind": "allow", "pattern": pat}), 201)
    ok(c.post(path(d1), {"kind": "block", "pattern": pat, "user": "boss"}), 201)
    assert c.post(path(d1), {"kind": "block", "pattern": pat,
                             "user": "boss"}).status == 409
    assert len([k for k in entries(c, d1) if k[1] == pat.lower()]) == 3


def test_at_most_1000_entries_per_domain(world, stack):
    w, d3 = world, world.d("d3")
    stack.psql(
        "INSERT INTO sender_lists (tenant_id, domain_id, kind, pattern) "
        "SELECT d.tenant_id, d.id, 'block', '@fill' || g || '.example' FROM domains d, "
        f"generate_series(1, 999) g WHERE d.name = '{d3}'")
    p = w.provider
    last = ok(p.post(path(d3), {"kind": "block", "pattern": "@last.example"}), 201)
    r = p.post(path(d3), {"kind": "block", "pattern": "@over.example"})
    assert r.status == 409 and r.json["type"].endswith("/limit-exceeded"), r
    assert r.json["limit"] == "sender_lists" and r.json["max"] == 1000, r.json
    # a user's entry counts too
    assert p.post(path(d3), {"kind": "block", "pattern": "@over.example",
                             "user": "dan"}).status == 409
    assert p.delete(path(d3, last["id"])).status == 204
    ok(p.post(path(d3), {"kind": "block", "pattern": "@over.example", "user": "dan"}), 201)
    page = ok(p.get(path(d3) + "?limit=500"))
    assert len(page["items"]) == 500 and page["next_cursor"]
    page2 = ok(p.get(path(d3) + "?limit=500&cursor=" + page["next_cursor"]))
    assert len(page2["items"]) == 500 and page2["next_cursor"] is None
    assert not {e["id"] for e in page["items"]} & {e["id"] for e in page2["items"]}


def test_changes_are_audited(world):
    w, d1 = world, world.d("d1")
    c = w.clients["domain d1"]
    e = ok(c.post(path(d1), {"kind": "allow", "pattern": f"Aud@aud-{w.u}.example",
                             "user": "alice"}), 201)
    assert c.delete(path(d1, e["id"])).status == 204
    target = f"{d1} sender list {e['id']}"
    page = ok(w.clients["tenant t1"].get("/api/v1/audit?limit=500"))
    recs = {(r["action"], r["target"]): r for r in page["items"]}
    made = recs[("sender_lists.create", target)]
    assert made["domain"] == d1 and made["role"] == "domain"
    assert made["changes"] == {"kind": "allow", "pattern": f"aud@aud-{w.u}.example",
                               "user": "alice"}
    gone = recs[("sender_lists.delete", target)]
    assert gone["changes"]["pattern"] == f"aud@aud-{w.u}.example"
    # the user's own changes are recorded as hers
    own = ok(w.clients["user alice"].post(path(d1), {"kind": "block",
                                                      "pattern": f"@mine-{w.u}.example"}), 201)
    page = ok(w.clients["domain d1"].get("/api/v1/audit?limit=500&action=sender_lists.create"))
    rec = next(r for r in page["items"] if r["target"] == f"{d1} sender list {own['id']}")
    assert rec["role"] == "user" and rec["changes"]["user"] == "alice"
    page = ok(w.clients["tenant t2"].get("/api/v1/audit?limit=500"))
    assert not any(r["action"].startswith("sender_lists.") and d1 in r["target"]
                   for r in page["items"])


def test_smtpd_honours_entries_made_through_the_api(world, stack, mailctl, daemon, uniq,
                                                    tmp_path):
    """The domain blocks a sender domain and allows one address of it, the
    user allows another: blocked mail is refused, allowed mail arrives."""
    sw = SmtpWorld(stack, mailctl, daemon, uniq, tmp_path)
    try:
        n, dom = sw.domains["none"], sw.t.domain
        p = world.provider
        ok(p.post(path(dom), {"kind": "block", "pattern": "@" + n.upper()}), 201)
        ok(p.post(path(dom), {"kind": "allow", "pattern": f"friend@{n}"}), 201)
        ok(p.post(path(dom), {"kind": "allow", "pattern": f"pal@{n}", "user": "rita"}), 201)
        rr, dr = sw.send(f"stranger@{n}", sw.message(f"stranger@{n}", "blocked one"))
        assert rr[0] == 550 or (dr is not None and dr[0] == 550), (rr, dr)
        for who in ("friend", "pal"):
            rr, dr = sw.send(f"{who}@{n}", sw.message(f"{who}@{n}", f"from {who}"))
            assert rr[0] == 250 and dr[0] == 250, (who, rr, dr)
        assert sorted(m["Subject"] for m in sw.stored()) == ["from friend", "from pal"]
    finally:
        sw.dns.stop()


def test_digest_links_use_public_url(world, stack):
    w = world
    carol = f"carol@{w.d('d1b')}"
    iid, _ = add_item(stack, carol, f"public {w.u}")
    base = f"https://portal-{w.u}.example:8443/mail"
    r = subprocess.run([os.path.join(stack.bin, "mailctl"), "-c", stack.conf, "maintain"],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, MAILCORE_WEBD_PUBLIC_URL=base + "/",
                                MAILCORE_WEBD_QUARANTINE_SECRET="public-url-test-secret"))
    assert r.returncode == 0, r.stderr
    [digest] = digests_about(stack, carol, f"public {w.u}")
    flat = re.sub(r"=\r?\n", "", digest)  # quoted-printable soft breaks, if any
    links = re.findall(r"(\S+)/quarantine/release\?t=([A-Za-z0-9_-]{86})", flat)
    mine = [b for b, t in links if item_of(t) == iid]
    assert mine, flat[:2000]
    assert all(b.endswith(base) for b in mine), mine
