"""The isolation matrix: every role against objects inside and outside its
subtree, over the real REST API. Outside the subtree the answer is always
403 or 404 and never carries the object; inside, reads that the role may do
answer 200, and writes are probed with a stale If-Match so that an allowed
write answers 412 (authorised, but the version differs) and a refused one
403 — nothing is changed by the probes. Lists only ever hold what the
caller may see."""
import pytest

from api_world import api, webd, world  # noqa: F401 (fixtures)

# What each probe targets: the tree position of the object.
#   (reseller path, tenant, domain, department chain, user)
ROLES = ["provider", "reseller r1", "reseller r1a", "reseller r2", "tenant t1",
         "tenant t2", "domain d1", "assistant d1", "department sales",
         "department support", "user alice"]


def place(w, kind, key):
    """Where object key of kind sits: a dict of its ancestors' keys."""
    tenants = {"t1": ["r1"], "t1a": ["r1", "r1a"], "t2": ["r2"], "t3": []}
    domains = {"d1": "t1", "d1b": "t1", "d1a": "t1a", "d2": "t2", "d3": "t3"}
    users = {"alice": ("d1", ["sales"]), "erik": ("d1", ["sales", "emea"]),
             "sam": ("d1", ["support"]), "boss": ("d1", []), "carol": ("d1b", []),
             "anna": ("d1a", []), "bob": ("d2", []), "dan": ("d3", [])}
    if kind == "reseller":
        return {"resellers": {"r1": ["r1"], "r1a": ["r1", "r1a"], "r2": ["r2"]}[key]}
    if kind == "tenant":
        return {"resellers": tenants[key], "tenant": key}
    if kind in ("domain", "alias"):
        dom = key if kind == "domain" else key.split(":")[0]
        t = domains[dom]
        return {"resellers": tenants[t], "tenant": t, "domain": dom}
    if kind == "department":
        chain = {"sales": ["sales"], "emea": ["sales", "emea"], "support": ["support"]}[key]
        return {"resellers": tenants["t1"], "tenant": "t1", "domain": "d1",
                "departments": chain}
    dom, chain = users[key]
    t = domains[dom]
    return {"resellers": tenants[t], "tenant": t, "domain": dom, "departments": chain,
            "user": key}


def inside(role, p):
    """Is p inside the subtree of role?"""
    kind, _, key = role.partition(" ")
    if kind == "provider":
        return True
    if kind == "reseller":
        return key in p.get("resellers", [])
    if kind == "tenant":
        return p.get("tenant") == key
    if kind in ("domain", "assistant"):
        return p.get("domain") == key and "tenant" in p
    if kind == "department":
        return key in p.get("departments", []) and ("user" in p or "departments" in p)
    if kind == "user":
        return p.get("user") == key
    raise AssertionError(role)


def url(w, kind, key):
    if kind == "reseller":
        return f"/api/v1/resellers/{w.n(key)}"
    if kind == "tenant":
        return f"/api/v1/tenants/{w.n(key)}"
    if kind == "domain":
        return f"/api/v1/domains/{w.d(key)}"
    if kind == "department":
        return f"/api/v1/domains/{w.d('d1')}/departments/{w.ids[key]}"
    if kind == "alias":
        dom, local = key.split(":")
        return f"/api/v1/domains/{w.d(dom)}/aliases/{local}"
    dom = place(w, "user", key)["domain"]
    return f"/api/v1/domains/{w.d(dom)}/users/{key}"


# Which roles may read / write each kind when the object is inside their
# subtree (kinds: role names without the scope key).
READ = {
    "reseller": {"provider", "reseller"},
    "tenant": {"provider", "reseller", "tenant"},
    "domain": {"provider", "reseller", "tenant", "domain", "assistant"},
    "department": {"provider", "reseller", "tenant", "domain", "department"},
    "user": {"provider", "reseller", "tenant", "domain", "department", "user"},
    "alias": {"provider", "reseller", "tenant", "domain", "assistant"},
}
WRITE = {
    "reseller": {"provider", "reseller"},
    "tenant": {"provider", "reseller", "tenant"},
    "domain": {"provider", "reseller", "tenant", "domain"},
    "department": {"provider", "reseller", "tenant", "domain", "department"},
    "user": {"provider", "reseller", "tenant", "domain", "department", "user"},
    "alias": {"provider", "reseller", "tenant", "domain", "assistant"},
}
DELETE = {
    "reseller": {"provider", "reseller"},
    "tenant": {"provider", "reseller"},
    "domain": {"provider", "reseller", "tenant"},
    "department": {"provider", "reseller", "tenant", "domain", "department"},
    "user": {"provider", "reseller", "tenant", "domain", "department"},
    "alias": {"provider", "reseller", "tenant", "domain", "assistant"},
}
PATCH_BODY = {"reseller": {"display_name": "x"}, "tenant": {"display_name": "x"},
              "domain": {"description": "x"}, "department": {"position": 3},
              "user": {"display_name": "x"}, "alias": {"description": "x"}}
OBJECTS = ([("reseller", k) for k in ("r1", "r1a", "r2")]
           + [("tenant", k) for k in ("t1", "t1a", "t2", "t3")]
           + [("domain", k) for k in ("d1", "d1b", "d1a", "d2", "d3")]
           + [("department", k) for k in ("sales", "emea", "support")]
           + [("user", k) for k in ("alice", "erik", "sam", "boss", "carol", "anna", "bob", "dan")]
           + [("alias", k) for k in ("d1:info", "d2:info")])


def special(role, kind, key):
    """Cases the tables above do not capture: a reseller admin may rename
    its own reseller but not delete it (nor change its limits: see
    test_escalation_is_refused); a department admin acts only below its
    own department."""
    r, _, rkey = role.partition(" ")
    if r == "reseller" and kind == "reseller" and key == rkey:
        # its display name only (the PATCH probe); not its limits
        return {"read": 200, "write": 412, "delete": 403}
    if r == "department" and kind == "department" and key == rkey:
        return {"read": 200, "write": 403, "delete": 403}
    return None


def expect(role, kind, key, w):
    r = role.partition(" ")[0]
    if not inside(role, place(w, kind, key)):
        return {"read": (403, 404), "write": (403, 404), "delete": (403, 404)}
    s = special(role, kind, key)
    if s:
        return {k: (v,) for k, v in s.items()}
    return {"read": (200,) if r in READ[kind] else (403,),
            "write": (412,) if r in WRITE[kind] else (403,),
            # an allowed delete meets the stale version, or an object
            # still in use (a tenant with domains)
            "delete": (409, 412) if r in DELETE[kind] else (403,)}


def no_data(r, w, kind, key):
    """A refusal carries a problem, never the object."""
    assert r.header("content-type").startswith("application/problem+json"), r
    body = r.json
    for member in ("version", "created_at", "items", "limits", "usage"):
        assert member not in body, (member, r)


CASES = [(role, kind, key) for role in ROLES for kind, key in OBJECTS]


@pytest.mark.parametrize("role,kind,key", CASES,
                         ids=[f"{r}-{k}-{o}" for r, k, o in CASES])
def test_matrix(world, role, kind, key):
    w = world
    c = w.clients[role]
    exp = expect(role, kind, key, w)
    r = c.get(url(w, kind, key))
    assert r.status in exp["read"], (role, kind, key, r)
    if r.status >= 400:
        no_data(r, w, kind, key)
    else:
        assert r.header("etag") == f'"{r.json["version"]}"'
    r = c.patch(url(w, kind, key), PATCH_BODY[kind],
                headers={"If-Match": '"999999999"'})
    assert r.status in exp["write"], (role, kind, key, "PATCH", r)
    if r.status != 412:
        no_data(r, w, kind, key)
    r = c.delete(url(w, kind, key), headers={"If-Match": '"999999999"'})
    assert r.status in exp["delete"], (role, kind, key, "DELETE", r)
    if r.status in (403, 404):
        no_data(r, w, kind, key)


def names(page, member):
    return sorted(item[member] for item in page["items"])


def test_lists_hold_only_the_subtree(world):
    w = world
    assert names(w.clients["reseller r1"].get("/api/v1/tenants?limit=500").json,
                 "name") == sorted([w.n("t1"), w.n("t1a")])
    assert names(w.clients["reseller r1a"].get("/api/v1/tenants").json,
                 "name") == [w.n("t1a")]
    assert names(w.clients["reseller r1"].get("/api/v1/resellers").json,
                 "name") == sorted([w.n("r1"), w.n("r1a")])
    assert names(w.clients["tenant t1"].get("/api/v1/domains").json,
                 "name") == sorted([w.d("d1"), w.d("d1b")])
    assert names(w.clients["domain d1"].get("/api/v1/domains").json,
                 "name") == [w.d("d1")]
    d1 = w.d("d1")
    r = w.clients["department sales"].get(f"/api/v1/domains/{d1}/users")
    assert names(r.json, "local_part") == ["alice", "erik"]
    r = w.clients["department support"].get(f"/api/v1/domains/{d1}/users")
    assert names(r.json, "local_part") == ["sam"]
    r = w.clients["domain d1"].get(f"/api/v1/domains/{d1}/users")
    assert names(r.json, "local_part") == ["alice", "boss", "erik", "sam"]


def test_assistant_manages_aliases_but_no_users(world):
    w = world
    a = w.clients["assistant d1"]
    d1 = w.d("d1")
    assert a.get(f"/api/v1/domains/{d1}/users").status == 403
    r = a.post(f"/api/v1/domains/{d1}/users", {"local_part": "x1", "password": "Qq1!" * 4})
    assert r.status == 403
    r = a.post(f"/api/v1/domains/{d1}/aliases",
               {"local_part": "sales-team", "targets": [f"alice@{d1}"]})
    assert r.status == 201, r
    assert a.delete(f"/api/v1/domains/{d1}/aliases/sales-team").status == 204
    assert a.get(f"/api/v1/domains/{d1}/policies").status == 403
    assert a.post(f"/api/v1/domains/{d1}/dkim-keys", {}).status == 403


def test_department_admin_stays_in_its_department(world):
    w = world
    c = w.clients["department sales"]
    d1 = w.d("d1")
    # a new user lands in its subtree; elsewhere is refused
    r = c.post(f"/api/v1/domains/{d1}/users",
               {"local_part": "newsales", "password": "Quite-L0ng-Pass",
                "department": w.ids["emea"]})
    assert r.status == 201, r
    # a department outside its subtree is one it cannot name: a field
    # error, like any unknown reference in a body
    for r in (c.post(f"/api/v1/domains/{d1}/users",
                     {"local_part": "newsupport", "password": "Quite-L0ng-Pass",
                      "department": w.ids["support"]}),
              c.patch(f"/api/v1/domains/{d1}/users/newsales",
                      {"department": w.ids["support"]})):
        assert r.status in (403, 404, 422), r
        if r.status == 422:
            assert r.json["errors"][0]["field"] == "department", r.json
    assert c.get(f"/api/v1/domains/{d1}/users/newsupport").status == 404
    assert w.provider.get(f"/api/v1/domains/{d1}/users/newsales").json[
        "department"] == w.ids["emea"]
    assert c.get(f"/api/v1/domains/{d1}/users/sam").status == 404


def test_escalation_is_refused(world):
    w = world
    d1 = w.d("d1")
    r = w.clients["domain d1"].post("/api/v1/tokens", {
        "name": "up", "role": "tenant", "scope": {"tenant": w.n("t1")}})
    assert r.status in (403, 404), r
    r = w.clients["tenant t1"].post("/api/v1/tokens", {
        "name": "sideways", "role": "tenant", "scope": {"tenant": w.n("t2")}})
    assert r.status == 404, r
    r = w.clients["reseller r1a"].patch(f"/api/v1/resellers/{w.n('r1a')}",
                                        {"limits": {"users": 1000000}})
    assert r.status == 403, r
    r = w.clients["user alice"].get(f"/api/v1/domains/{d1}/users/boss")
    assert r.status in (403, 404), r
    r = w.clients["user alice"].patch(f"/api/v1/domains/{d1}/users/alice",
                                      {"quota_bytes": 10 ** 12})
    assert r.status in (403, 422), r


def test_audit_is_scoped(world):
    w = world
    for role in ("tenant t2", "domain d1"):
        page = w.clients[role].get("/api/v1/audit?limit=500").json
        for rec in page["items"]:
            if role == "tenant t2":
                assert rec["tenant"] == w.n("t2"), rec
            else:
                assert rec["domain"] == w.d("d1"), rec
    assert w.clients["user alice"].get("/api/v1/audit").status == 403


# Domain sub-resources: who may read them for a domain in its reach.
SUB = {
    "users": {"provider", "reseller", "tenant", "domain", "department"},
    "aliases": {"provider", "reseller", "tenant", "domain", "assistant"},
    "bcc-rules": {"provider", "reseller", "tenant", "domain", "assistant"},
    "departments": {"provider", "reseller", "tenant", "domain", "department"},
    "policies": {"provider", "reseller", "tenant", "domain"},
    "dkim-keys": {"provider", "reseller", "tenant", "domain"},
    "dns-records": {"provider", "reseller", "tenant", "domain"},
    "domain-aliases": {"provider", "reseller", "tenant", "domain", "assistant"},
    "usage": {"provider", "reseller", "tenant", "domain", "assistant"},
    "queue": {"provider", "reseller", "tenant", "domain"},
}
SUB_CASES = [(role, dom, sub) for role in ROLES for dom in ("d1", "d2")
             for sub in SUB]


@pytest.mark.parametrize("role,dom,sub", SUB_CASES,
                         ids=[f"{r}-{d}-{s}" for r, d, s in SUB_CASES])
def test_domain_subresources(world, role, dom, sub):
    """Every domain sub-resource: out of reach 403/404 without data; in
    reach 200 for the roles that may read it, 403 for the others."""
    w = world
    r_kind = role.partition(" ")[0]
    p = place(w, "domain", dom)
    reach = inside(role, p) or (r_kind in ("department", "user") and dom == "d1")
    r = w.clients[role].get(f"/api/v1/domains/{w.d(dom)}/{sub}")
    if not reach:
        assert r.status in (403, 404), (role, dom, sub, r)
        no_data(r, w, "domain", dom)
    elif r_kind in SUB[sub]:
        assert r.status == 200, (role, dom, sub, r)
    else:
        assert r.status == 403, (role, dom, sub, r)
        no_data(r, w, "domain", dom)


def test_tenant_and_user_subresources(world):
    w = world
    for role in ROLES:
        c = w.clients[role]
        r_kind = role.partition(" ")[0]
        for t in ("t1", "t2"):
            r = c.get(f"/api/v1/tenants/{w.n(t)}/usage")
            if inside(role, place(w, "tenant", t)):
                assert r.status == 200, (role, t, r)
            else:
                assert r.status in (403, 404), (role, t, r)
            # a tenant's outbound queue: its admins and those above
            r = c.get(f"/api/v1/tenants/{w.n(t)}/queue")
            if inside(role, place(w, "tenant", t)):
                assert r.status == 200, (role, t, r)
            else:
                assert r.status in (403, 404), (role, t, r)
                no_data(r, w, "tenant", t)
            # a tenant's domains: only those the caller may see, if any
            r = c.get(f"/api/v1/tenants/{w.n(t)}/domains")
            if inside(role, place(w, "tenant", t)):
                assert r.status == 200, (role, t, r)
            elif r.status == 200:
                for item in r.json["items"]:
                    key = item["name"].split("-")[0]
                    assert inside(role, place(w, "domain", key)), (role, item)
            else:
                assert r.status in (403, 404), (role, t, r)
        for user in ("alice", "sam", "bob"):
            p = place(w, "user", user)
            dom = w.d(p["domain"])
            for sub in ("usage", "policy"):
                r = c.get(f"/api/v1/domains/{dom}/users/{user}/{sub}")
                ok = inside(role, p) and r_kind != "assistant"
                assert r.status == (200 if ok else r.status), (role, user, sub, r)
                if not ok:
                    assert r.status in (403, 404), (role, user, sub, r)


def test_bindings_and_tokens_lists_are_scoped(world):
    w = world
    for role in ("tenant t2", "domain d1", "department sales"):
        c = w.clients[role]
        for path in ("/api/v1/role-bindings?limit=500", "/api/v1/tokens?limit=500"):
            page = must_ok(c.get(path))
            for item in page["items"]:
                scope = item["scope"]
                if role == "tenant t2":
                    assert scope.get("tenant") == w.n("t2") or (
                        scope.get("domain") == w.d("d2")), (role, item)
                elif role == "domain d1":
                    assert scope.get("domain") == w.d("d1"), (role, item)
                elif item.get("role") == "user":
                    # the bindings (and tokens) of users of its department
                    # subtree
                    holder = item.get("holder") or "alice@"
                    assert holder.split("@")[0] in ("alice", "erik", "newsales"), (
                        role, item)
                else:
                    assert scope.get("department") in (w.ids["sales"], w.ids["emea"]), (
                        role, item)


def must_ok(r):
    assert r.status == 200, r
    return r.json
