"""Users over the REST API: create with the domain's password policy,
ETag / If-Match, Idempotency-Key replay, rename refused, freeze, delete and
restore, generated passwords that really log in over IMAP, CSV import with
good, bad and existing lines, CSV export, batch creation by pattern, and
an audit record for every change."""
import imaplib
import ssl
import uuid

import pytest

from api_world import PASSWORD, api, must, provider_token, webd  # noqa: F401


@pytest.fixture(scope="module")
def dom(api, stack):
    """A provider client and a fresh tenant + domain."""
    p = api.with_token(provider_token(stack))
    u = uuid.uuid4().hex[:8]
    must(p.post("/api/v1/tenants", {"name": f"ut-{u}"}), 201)
    d = f"ut-{u}.test"
    must(p.post(f"/api/v1/tenants/ut-{u}/domains", {"name": d}), 201)
    return p, d


def users(d):
    return f"/api/v1/domains/{d}/users"


def imap_login(stack, address, password):
    ctx = ssl.create_default_context(cafile=stack.ca)
    ctx.check_hostname = False
    with imaplib.IMAP4_SSL("127.0.0.1", stack.port("imaps"), ssl_context=ctx) as c:
        try:
            c.login(address, password)
            return True
        except imaplib.IMAP4.error:
            return False


def test_create_get_update_with_etags(dom):
    p, d = dom
    u = must(p.post(users(d), {"local_part": "ann", "password": PASSWORD,
                               "display_name": "Ann Example"}), 201)
    assert u["address"] == f"ann@{d}" and u["status"] == "active"
    assert "password" not in u
    r = p.get(f"{users(d)}/ann")
    etag = r.header("etag")
    assert etag == f'"{r.json["version"]}"'
    r2 = p.patch(f"{users(d)}/ann", {"display_name": "Ann E."}, headers={"If-Match": etag})
    assert r2.status == 200 and r2.json["display_name"] == "Ann E."
    assert r2.header("etag") != etag
    stale = p.patch(f"{users(d)}/ann", {"display_name": "again"}, headers={"If-Match": etag})
    assert stale.status == 412, stale
    assert p.get(f"{users(d)}/ann").json["display_name"] == "Ann E."


def test_rename_and_unknown_members_are_refused(dom):
    p, d = dom
    must(p.post(users(d), {"local_part": "ren", "password": PASSWORD}), 201)
    r = p.patch(f"{users(d)}/ren", {"local_part": "other"})
    assert r.status == 422
    assert any(e["field"] == "local_part" for e in r.json["errors"]), r.json
    r = p.post(users(d), {"local_part": "zz", "password": PASSWORD, "colour": "red"})
    assert r.status == 422 and r.json["errors"][0]["field"] == "colour"
    r = p.request("POST", users(d), raw=b"{not json", content_type="application/json")
    assert r.status == 400
    r = p.request("POST", users(d), raw=b"local_part=x", content_type="text/plain")
    assert r.status == 415


def test_password_policy(dom):
    p, d = dom
    r = p.post(users(d), {"local_part": "weak", "password": "short"})
    assert r.status == 422 and r.json["errors"][0]["field"] == "password", r.json
    must(p.patch(f"/api/v1/domains/{d}", {"password_policy": {
        "min_length": 12, "classes": ["digit", "upper"]}}), 200)
    r = p.post(users(d), {"local_part": "weak", "password": "longbutnodigits"})
    assert r.status == 422 and "digit" in r.json["errors"][0]["detail"], r.json
    must(p.post(users(d), {"local_part": "weak", "password": "Long-enough-42"}), 201)
    must(p.patch(f"/api/v1/domains/{d}", {"password_policy": {"min_length": 10,
                                                               "classes": []}}), 200)


def test_idempotency_key_replays(dom):
    p, d = dom
    h = {"Idempotency-Key": "create-idem-" + uuid.uuid4().hex}
    body = {"local_part": "idem", "password": PASSWORD}
    r1 = p.post(users(d), body, headers=h)
    r2 = p.post(users(d), body, headers=h)
    assert r1.status == r2.status == 201
    assert r2.json == r1.json and r2.header("idempotent-replayed") == "true"
    r3 = p.post(users(d), dict(body, display_name="different"), headers=h)
    assert r3.status == 422, r3


def test_freeze_delete_restore_and_generated_password(dom, stack, daemon):
    daemon("mc-imapd")
    p, d = dom
    must(p.post(users(d), {"local_part": "life", "password": PASSWORD}), 201)
    gen = must(p.post(f"{users(d)}/life/password"), 200)
    new = gen["password"]
    assert new and new != PASSWORD
    assert imap_login(stack, f"life@{d}", new)
    assert not imap_login(stack, f"life@{d}", PASSWORD)
    assert must(p.post(f"{users(d)}/life/freeze"), 200)["status"] == "frozen"
    assert not imap_login(stack, f"life@{d}", new)
    assert must(p.post(f"{users(d)}/life/restore"), 200)["status"] == "active"
    assert imap_login(stack, f"life@{d}", new)
    assert p.delete(f"{users(d)}/life").status == 204
    shown = must(p.get(f"{users(d)}/life"), 200)
    assert shown["status"] == "deleted" and shown["purge_at"] is not None
    assert not imap_login(stack, f"life@{d}", new)
    # the address stays taken while it is recoverable
    assert p.post(users(d), {"local_part": "life", "password": PASSWORD}).status == 409
    assert must(p.post(f"{users(d)}/life/restore"), 200)["status"] == "active"
    assert imap_login(stack, f"life@{d}", new)


CSV = ("local_part,password,display_name,quota\r\n"
       "imp1,Import-Pass-1,\"Imp, One\",10M\r\n"
       "imp2,Import-Pass-2,Imp Two,\r\n"
       "Bad Name,Import-Pass-3,x,\r\n"
       "imp3,short,x,\r\n"
       "imp1,Import-Pass-1,again,\r\n"
       "imp4,Import-Pass-4,\"Multi\nLine\",1G\r\n"
       "imp5,Import-Pass-5,x,lots\r\n")


def test_csv_import_report(dom):
    p, d = dom
    rep = must(p.request("POST", f"{users(d)}/import", raw=CSV.encode(),
                         content_type="text/csv"), 200)
    assert (rep["created"], rep["skipped"], rep["failed"]) == (3, 1, 3), rep
    by_line = {l["line"]: l for l in rep["lines"]}
    assert by_line[2]["result"] == "created"
    assert by_line[4]["result"] == "error" and by_line[4]["error"]
    assert by_line[5]["result"] == "error"          # password policy
    assert by_line[6]["result"] == "skipped"        # exists
    assert by_line[7]["result"] == "created"        # quoted multi-line name
    assert by_line[9]["result"] == "error"          # bad quota
    u = must(p.get(f"{users(d)}/imp1"), 200)
    assert u["display_name"] == "Imp, One" and u["quota_bytes"] == 10 * 2**20
    bad = p.request("POST", f"{users(d)}/import", raw=b"name,colour\r\nx,y\r\n",
                    content_type="text/csv")
    assert bad.status == 422, bad


def test_csv_export(dom):
    p, d = dom
    r = p.get(f"{users(d)}?format=csv")
    assert r.status == 200 and r.header("content-type").startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0] == "local_part,display_name,quota_bytes,used_bytes,department,status,created_at"
    assert any(l.startswith("imp1,\"Imp, One\",") for l in lines), lines[:5]


def test_batch_by_pattern(dom):
    p, d = dom
    res = must(p.post(f"{users(d)}/batch", {"pattern": "staff{01..12}"}), 201)
    assert [c["address"] for c in res["created"]] == [f"staff{i:02d}@{d}" for i in range(1, 13)]
    assert all(len(c["password"]) >= 16 for c in res["created"])
    # one existing name: nothing is created
    r = p.post(f"{users(d)}/batch", {"pattern": "staff{12..14}", "password": PASSWORD})
    assert r.status == 409, r
    assert p.get(f"{users(d)}/staff13").status == 404
    assert p.post(f"{users(d)}/batch", {"pattern": "x{1..5000}"}).status == 422


def test_every_change_is_audited(dom):
    p, d = dom
    must(p.post(users(d), {"local_part": "aud", "password": PASSWORD}), 201)
    must(p.patch(f"{users(d)}/aud", {"display_name": "Audited"}), 200)
    must(p.post(f"{users(d)}/aud/freeze"), 200)
    assert p.delete(f"{users(d)}/aud").status == 204
    page = must(p.get(f"/api/v1/audit?target=aud@{d}&limit=50"), 200)
    actions = [r["action"] for r in page["items"]]
    for a in ("user.create", "user.update", "user.freeze", "user.delete"):
        assert a in actions, actions
    upd = next(r for r in page["items"] if r["action"] == "user.update")
    assert upd["changes"]["display_name"] == "Audited"
    create = next(r for r in page["items"] if r["action"] == "user.create")
    assert PASSWORD not in str(create["changes"])
    assert create["client_ip"] == "127.0.0.1" and create["actor"].startswith("token ")


def test_paging_with_cursor(dom):
    p, d = dom
    seen, cursor = [], None
    while True:
        q = "?limit=4&sort=local_part" + (f"&cursor={cursor}" if cursor else "")
        page = must(p.get(users(d) + q), 200)
        seen += [u["local_part"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) > 12
    r = p.get(users(d) + "?limit=4&sort=-local_part")
    assert [u["local_part"] for u in r.json["items"]] == sorted(seen, reverse=True)[:4]
