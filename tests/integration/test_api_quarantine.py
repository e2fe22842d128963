"""Quarantined mail over the REST API and through the signed release
links: items of two tenants (inserted as mc-quarantine writes them: a
stored blob, a message row holding the item's reference, the quarantine
row) listed, shown, released into the INBOX and deleted by the provider,
resellers, tenant and domain admins and the user itself, each inside its
own scope only (others' ids are 404, assistants and department admins
403), every change audited. mc-webd's /quarantine/release shows a form on
GET (nothing released) and releases on POST; tampered and expired tokens
are refused. Maintenance sends the digest with working links into the
INBOX and drops expired items. API responses are checked against
api/openapi.yaml."""
import base64
import hashlib
import hmac
import os
import re
import struct
import subprocess
import time
import urllib.parse

import pytest

from api_helpers import Api
from api_world import api, world  # noqa: F401 (fixtures)
from conftest import Daemon

SECRET = "quarantine-test-secret-0123456789"
ENV = {"MAILCORE_WEBD_QUARANTINE_SECRET": SECRET}
LABEL = b"mailcore quarantine release v1\0"


@pytest.fixture(scope="module")
def webd(stack, tmp_path_factory):
    """This module's mc-webd, with release links enabled."""
    log = str(tmp_path_factory.mktemp("webd-q") / "mc-webd.log")
    d = Daemon(stack, "mc-webd", log, env=ENV)
    d.wait_for(" ready:")
    yield d
    d.stop()


def q(stack, sql):
    return stack.psql(sql)


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def user_row(stack, address):
    local, dom = address.split("@")
    rows = q(stack, "SELECT u.tenant_id, u.id, u.domain_id FROM users u JOIN domains d "
                    f"ON d.id = u.domain_id WHERE d.name = {sql_str(dom)} AND "
                    f"u.local_part = {sql_str(local)}")
    assert len(rows) == 1, (address, rows)
    return [int(v) for v in rows[0]]


def put_blob(stack, data):
    sha = hashlib.sha256(data).hexdigest()
    d = os.path.join(stack.state, "blobs", sha[:2], sha[2:4])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, sha), "wb") as f:
        f.write(data)
    return sha


def add_item(stack, address, subject, category="spam", expires="now() + interval '30 days'"):
    """One quarantined message for address; returns (item id, sha256)."""
    tid, uid, did = user_row(stack, address)
    data = (f"From: evil@spam.example\r\nTo: {address}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{hashlib.md5(subject.encode()).hexdigest()}@spam.example>\r\n"
            f"\r\nBuy now: {subject}\r\n").encode()
    sha = put_blob(stack, data)
    mid = q(stack, "INSERT INTO messages (tenant_id, sha256, size_bytes, refcount, envelope, "
                   f"body, bodystructure, subject) VALUES ({tid}, '{sha}', {len(data)}, 1, "
                   f"'', '', '', {sql_str(subject)}) RETURNING id")[0][0]
    iid = q(stack, "INSERT INTO quarantine (tenant_id, message_id, user_id, domain_id, "
                   "recipient, sender, subject, reason, category, size_bytes, expires_at) "
                   f"VALUES ({tid}, {mid}, {uid}, {did}, {sql_str(address)}, "
                   f"'evil@spam.example', {sql_str(subject)}, 'spam score 12.5', "
                   f"'{category}', {len(data)}, {expires}) RETURNING id")[0][0]
    return int(iid), sha


def inbox_shas(stack, address):
    tid, uid, _ = user_row(stack, address)
    return [r[0] for r in q(stack, "SELECT m.sha256 FROM mailboxes mb JOIN mailbox_messages mm "
                                   "ON mm.tenant_id = mb.tenant_id AND mm.mailbox_id = mb.id "
                                   "JOIN messages m ON m.tenant_id = mm.tenant_id AND "
                                   f"m.id = mm.message_id WHERE mb.tenant_id = {tid} AND "
                                   f"mb.user_id = {uid} AND mb.name = 'INBOX'")]


def token(iid, tid, uid, expires, secret=SECRET):
    raw = struct.pack(">qqqq", iid, tid, uid, expires)
    mac = hmac.new(secret.encode(), LABEL + raw, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw + mac).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def items(world, stack):
    w = world
    made = {}
    for key, who, cat in (("a1", f"alice@{w.d('d1')}", "virus"),
                          ("a2", f"boss@{w.d('d1')}", "spam"),
                          ("c1", f"carol@{w.d('d1b')}", "policy"),
                          ("b1", f"bob@{w.d('d2')}", "spam"),
                          ("link", f"alice@{w.d('d1')}", "spam"),
                          ("self", f"alice@{w.d('d1')}", "dmarc")):
        made[key] = add_item(stack, who, f"{key} {w.u}", cat)
    return made


def ok(r, status=200):
    assert r.status == status, r
    return r.json


def ids(page, items):
    mine = {v[0]: k for k, v in items.items()}
    return sorted(mine[i["id"]] for i in page["items"] if i["id"] in mine)


def web(stack):
    return Api(stack.port("https"), stack.ca, validate=False)


def test_provider_lists_and_filters(world, items):
    w, p = world, world.provider
    page = ok(p.get("/api/v1/quarantine?limit=500"))
    assert ids(page, items) == sorted(items)
    a1 = next(i for i in page["items"] if i["id"] == items["a1"][0])
    assert a1["tenant"] == w.n("t1") and a1["domain"] == w.d("d1")
    assert a1["recipient"] == f"alice@{w.d('d1')}" and a1["state"] == "held"
    assert a1["category"] == "virus" and a1["released_at"] is None
    newest_first = [i["id"] for i in page["items"]]
    assert newest_first == sorted(newest_first, reverse=True)
    assert ids(ok(p.get("/api/v1/quarantine?limit=500&category=virus")), items) == ["a1"]
    assert ids(ok(p.get(f"/api/v1/quarantine?limit=500&tenant={w.n('t2')}")), items) == ["b1"]
    assert ids(ok(p.get(f"/api/v1/quarantine?domain={w.d('d1b')}")), items) == ["c1"]
    assert ids(ok(p.get(f"/api/v1/quarantine?recipient=boss@&tenant={w.n('t1')}")),
               items) == ["a2"]
    assert ids(ok(p.get(f"/api/v1/quarantine?q=c1 {w.u}".replace(" ", "%20"))), items) == ["c1"]
    assert p.get("/api/v1/quarantine?state=gone").status == 422
    assert p.get("/api/v1/quarantine?category=ham").status == 422
    assert p.get("/api/v1/quarantine?sort=-id").status == 422
    assert p.get("/api/v1/quarantine?tenant=no-such-tenant-q").status == 404


def test_pages_follow_the_cursor(world, items):
    w = world
    seen, cursor = [], None
    for _ in range(10):
        path = f"/api/v1/domains/{w.d('d1')}/quarantine?limit=1"
        page = ok(w.provider.get(path + (f"&cursor={cursor}" if cursor else "")))
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    want = sorted((items[k][0] for k in ("a1", "a2", "link", "self")), reverse=True)
    assert seen == want


def test_tenant_and_reseller_scopes(world, items):
    w = world
    t1 = w.clients["tenant t1"]
    assert ids(ok(t1.get("/api/v1/quarantine?limit=500")), items) == [
        "a1", "a2", "c1", "link", "self"]
    b1 = items["b1"][0]
    for r in (t1.get(f"/api/v1/quarantine/{b1}"),
              t1.post(f"/api/v1/quarantine/{b1}/release"),
              t1.delete(f"/api/v1/quarantine/{b1}"),
              t1.get(f"/api/v1/domains/{w.d('d2')}/quarantine"),
              t1.get(f"/api/v1/quarantine?tenant={w.n('t2')}"),
              t1.get("/api/v1/quarantine/999999999")):
        assert r.status == 404, r
        assert "recipient" not in r.json and "items" not in r.json
    assert ids(ok(w.clients["tenant t2"].get("/api/v1/quarantine")), items) == ["b1"]
    assert ids(ok(w.clients["reseller r2"].get("/api/v1/quarantine")), items) == ["b1"]
    assert "b1" not in ids(ok(w.clients["reseller r1"].get("/api/v1/quarantine?limit=500")),
                           items)
    assert ids(ok(w.clients["reseller r1a"].get("/api/v1/quarantine")), items) == []
    # nothing happened to b1
    assert ok(w.provider.get(f"/api/v1/quarantine/{b1}"))["state"] == "held"


def test_domain_admin_user_and_lesser_roles(world, items):
    w = world
    d1 = w.clients["domain d1"]
    assert ids(ok(d1.get("/api/v1/quarantine?limit=500")), items) == [
        "a1", "a2", "link", "self"]
    assert d1.get(f"/api/v1/quarantine/{items['c1'][0]}").status == 404
    assert d1.get(f"/api/v1/domains/{w.d('d1b')}/quarantine").status == 404
    alice = w.clients["user alice"]
    assert ids(ok(alice.get("/api/v1/quarantine")), items) == ["a1", "link", "self"]
    assert ok(alice.get(f"/api/v1/quarantine/{items['a1'][0]}"))["subject"] == f"a1 {w.u}"
    for r in (alice.get(f"/api/v1/quarantine/{items['a2'][0]}"),
              alice.post(f"/api/v1/quarantine/{items['a2'][0]}/release"),
              alice.delete(f"/api/v1/quarantine/{items['a2'][0]}")):
        assert r.status == 404, r
    assert alice.get(f"/api/v1/domains/{w.d('d1')}/quarantine").status == 403
    for role in ("assistant d1", "department sales"):
        c = w.clients[role]
        for r in (c.get("/api/v1/quarantine"), c.get(f"/api/v1/quarantine/{items['a1'][0]}"),
                  c.post(f"/api/v1/quarantine/{items['a1'][0]}/release")):
            assert r.status == 403, (role, r)


def test_release_delivers_into_the_inbox(world, items, stack):
    w = world
    iid, sha = items["a1"]
    alice = f"alice@{w.d('d1')}"
    assert sha not in inbox_shas(stack, alice)
    it = ok(w.clients["domain d1"].post(f"/api/v1/quarantine/{iid}/release"))
    assert it["state"] == "released" and it["released_at"]
    assert it["released_by"].startswith("admin ")
    assert inbox_shas(stack, alice).count(sha) == 1
    # the mailbox holds the reference now, the item none
    assert q(stack, f"SELECT m.refcount, x.message_id IS NULL FROM messages m, quarantine x "
                    f"WHERE x.id = {iid} AND m.sha256 = '{sha}' AND m.tenant_id = "
                    f"x.tenant_id") == [["1", "t"]]
    r = w.clients["tenant t1"].post(f"/api/v1/quarantine/{iid}/release")
    assert r.status == 409, r
    assert inbox_shas(stack, alice).count(sha) == 1
    held = ok(w.provider.get(f"/api/v1/quarantine?state=held&tenant={w.n('t1')}&limit=500"))
    assert "a1" not in ids(held, items)
    # the user releases its own
    iid2, sha2 = items["self"]
    it = ok(w.clients["user alice"].post(f"/api/v1/quarantine/{iid2}/release"))
    assert it["state"] == "released" and it["released_by"].startswith("user ")
    assert sha2 in inbox_shas(stack, alice)


def test_delete(world, items, stack):
    w = world
    iid, sha = items["a2"]
    t1 = w.clients["tenant t1"]
    assert t1.delete(f"/api/v1/quarantine/{iid}").status == 204
    assert t1.get(f"/api/v1/quarantine/{iid}").status == 404
    assert q(stack, f"SELECT count(*) FROM quarantine WHERE id = {iid}") == [["0"]]
    # its reference went with it: the store's GC may collect the message
    assert q(stack, f"SELECT refcount FROM messages WHERE sha256 = '{sha}'") == [["0"]]
    assert sha not in inbox_shas(stack, f"boss@{w.d('d1')}")


def test_changes_are_audited(world, items):
    w = world
    page = ok(w.clients["tenant t1"].get("/api/v1/audit?limit=500"))
    recs = {(r["action"], r["target"]): r for r in page["items"]}
    rel = recs[("quarantine.release", f"quarantine {items['a1'][0]}")]
    assert rel["domain"] == w.d("d1") and rel["role"] == "domain"
    assert rel["changes"]["recipient"] == f"alice@{w.d('d1')}"
    assert ("quarantine.delete", f"quarantine {items['a2'][0]}") in recs
    page = ok(w.clients["domain d1"].get("/api/v1/audit?limit=500"))
    assert any(r["action"] == "quarantine.delete" for r in page["items"])
    page = ok(w.clients["tenant t2"].get("/api/v1/audit?limit=500"))
    assert not any(r["action"].startswith("quarantine.") for r in page["items"])


def test_release_link_get_shows_a_form_post_releases(world, items, stack):
    w = world
    iid, sha = items["link"]
    alice = f"alice@{w.d('d1')}"
    tid, uid, _ = user_row(stack, alice)
    t = token(iid, tid, uid, int(time.time()) + 3600)
    c = web(stack)
    for _ in range(2):  # a link scanner's prefetch changes nothing
        r = c.get("/quarantine/release?t=" + t, headers={"Accept": "text/html"})
        assert r.status == 200, r
        assert r.header("content-type").startswith("text/html")
        assert 'method="post"' in r.text and t in r.text
        assert f"link {w.u}" in r.text
        assert r.header("referrer-policy") == "no-referrer"
    assert ok(w.provider.get(f"/api/v1/quarantine/{iid}"))["state"] == "held"
    assert sha not in inbox_shas(stack, alice)
    form = urllib.parse.urlencode({"t": t})
    r = c.post("/quarantine/release", raw=form,
               content_type="application/x-www-form-urlencoded")
    assert r.status == 200 and "Released" in r.text, r
    assert inbox_shas(stack, alice).count(sha) == 1
    it = ok(w.provider.get(f"/api/v1/quarantine/{iid}"))
    assert it["state"] == "released" and it["released_by"] == "user via link"
    r = c.post("/quarantine/release", raw=form,
               content_type="application/x-www-form-urlencoded")
    assert r.status == 409, r
    assert inbox_shas(stack, alice).count(sha) == 1


def test_release_link_refuses_bad_tokens(world, items, stack):
    w = world
    iid, sha = items["b1"]
    tid, uid, _ = user_row(stack, f"bob@{w.d('d2')}")
    good = token(iid, tid, uid, int(time.time()) + 3600)
    flip = "A" if good[20] != "A" else "B"
    tampered = good[:20] + flip + good[21:]
    other_secret = token(iid, tid, uid, int(time.time()) + 3600, secret="not-the-secret")
    # a genuine token of alice's naming bob's item finds nothing
    atid, auid, _ = user_row(stack, f"alice@{w.d('d1')}")
    stolen = token(iid, atid, auid, int(time.time()) + 3600)
    expired = token(iid, tid, uid, int(time.time()) - 10)
    c = web(stack)
    for t, status in ((tampered, 403), (other_secret, 403), (stolen, 404), ("", 403),
                      ("short", 403), (expired, 410)):
        for r in (c.get("/quarantine/release?t=" + t),
                  c.post("/quarantine/release", raw=urllib.parse.urlencode({"t": t}),
                         content_type="application/x-www-form-urlencoded")):
            assert r.status == status, (t, r)
            assert r.header("content-type").startswith("text/html")
    assert ok(w.provider.get(f"/api/v1/quarantine/{iid}"))["state"] == "held"
    assert sha not in inbox_shas(stack, f"bob@{w.d('d2')}")
    # a valid token for an item that is gone
    gone = token(999999999, tid, uid, int(time.time()) + 3600)
    assert c.get("/quarantine/release?t=" + gone).status == 404


def maintain(stack):
    r = subprocess.run([os.path.join(stack.bin, "mailctl"), "-c", stack.conf, "maintain"],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **ENV))
    assert r.returncode == 0, r.stderr
    return r


def digests_about(stack, address, text):
    """The INBOX messages of address that mention text (the digests)."""
    found = []
    for sha in inbox_shas(stack, address):
        with open(os.path.join(stack.state, "blobs", sha[:2], sha[2:4], sha), "rb") as f:
            data = f.read().decode("utf-8", "replace")
        if text in data and "/quarantine/release?t=" in data:
            found.append(data)
    return found


def item_of(tok):
    raw = base64.urlsafe_b64decode(tok + "==")
    return struct.unpack(">q", raw[:8])[0]


def test_maintenance_sends_the_digest_and_expires(world, stack):
    """(mc-webd's own maintenance may run too: it has the secret.)"""
    w = world
    carol = f"carol@{w.d('d1b')}"
    iid, sha = add_item(stack, carol, f"digest {w.u}")
    old, _ = add_item(stack, carol, f"old {w.u}", expires="now() - interval '1 minute'")
    maintain(stack)
    digests = digests_about(stack, carol, f"digest {w.u}")
    assert len(digests) == 1, digests
    assert f"old {w.u}" not in digests[0]
    assert f"postmaster@{w.d('d1b')}" in digests[0]
    links = re.findall(r"/quarantine/release\?t=([A-Za-z0-9_-]{86})", digests[0])
    mine = [t for t in links if item_of(t) == iid]
    assert mine, digests[0][:2000]
    assert q(stack, f"SELECT digest_sent_at IS NOT NULL FROM quarantine WHERE id = {iid}") \
        == [["t"]]
    assert q(stack, f"SELECT count(*) FROM quarantine WHERE id = {old}") == [["0"]]
    # the digest's link works
    c = web(stack)
    r = c.get("/quarantine/release?t=" + mine[0])
    assert r.status == 200 and 'method="post"' in r.text and f"digest {w.u}" in r.text, r
    r = c.post("/quarantine/release", raw=urllib.parse.urlencode({"t": mine[0]}),
               content_type="application/x-www-form-urlencoded")
    assert r.status == 200, r
    assert sha in inbox_shas(stack, carol)
    # a second run announces it no more
    maintain(stack)
    assert len(digests_about(stack, carol, f"digest {w.u}")) == 1
