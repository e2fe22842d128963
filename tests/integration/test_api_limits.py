"""Limits at every level over the REST API: a create past a limit of the
reseller, tenant, domain or department fails with a limit-exceeded problem
naming the limit and the level; a child's limit cannot be carved larger
than its parent's; concurrent creates never overshoot."""
import threading
import uuid

from api_world import PASSWORD, api, must, provider_token, webd  # noqa: F401

PROBLEM = "https://mailcore.invalid/problems/limit-exceeded"


def limit_problem(r, limit, level):
    assert r.status == 409, r
    p = r.json
    assert p["type"] == PROBLEM, p
    assert (p["limit"], p["level"]) == (limit, level), p
    return p


def make_tree(api, stack, reseller_limits=None, tenant_limits=None, domain_limits=None):
    u = uuid.uuid4().hex[:8]
    p = api.with_token(provider_token(stack))
    names = {"r": f"lr-{u}", "t": f"lt-{u}", "d": f"ld-{u}.test"}
    must(p.post("/api/v1/resellers", {"name": names["r"], "limits": reseller_limits or {}}), 201)
    must(p.post("/api/v1/tenants", {"name": names["t"], "reseller": names["r"],
                                    "limits": tenant_limits or {}}), 201)
    body = {"name": names["d"]}
    if domain_limits:
        body["limits"] = domain_limits
    must(p.post(f"/api/v1/tenants/{names['t']}/domains", body), 201)
    return p, names


def add_user(c, domain, local, **extra):
    return c.post(f"/api/v1/domains/{domain}/users",
                  dict({"local_part": local, "password": PASSWORD}, **extra))


def test_user_limits_at_each_level(api, stack):
    p, n = make_tree(api, stack, reseller_limits={"users": 3}, tenant_limits={"users": 2})
    d = n["d"]
    assert add_user(p, d, "u1").status == 201
    assert add_user(p, d, "u2").status == 201
    prob = limit_problem(add_user(p, d, "u3"), "users", "tenant")
    assert prob["name"] == n["t"] and prob["max"] == 2
    # raise the tenant past the reseller: refused by carving
    r = p.patch(f"/api/v1/tenants/{n['t']}", {"limits": {"users": 5}})
    limit_problem(r, "users", "reseller")
    must(p.patch(f"/api/v1/tenants/{n['t']}", {"limits": {"users": 3}}), 200)
    assert add_user(p, d, "u3").status == 201
    limit_problem(add_user(p, d, "u4"), "users", "tenant")
    # the domain's own limit
    r = p.patch(f"/api/v1/domains/{d}", {"limits": {"users": 3}})
    assert r.status == 200, r
    usage = must(p.get(f"/api/v1/tenants/{n['t']}/usage"), 200)
    assert usage["usage"]["users"] == 3


def test_department_limit(api, stack):
    p, n = make_tree(api, stack)
    d = n["d"]
    dept = must(p.post(f"/api/v1/domains/{d}/departments",
                       {"name": "Ops", "limits": {"users": 1}}), 201)
    assert add_user(p, d, "a", department=dept["id"]).status == 201
    limit_problem(add_user(p, d, "b", department=dept["id"]), "users", "department")
    assert add_user(p, d, "b").status == 201  # outside the department is fine


def test_domain_and_alias_limits(api, stack):
    p, n = make_tree(api, stack, tenant_limits={"domains": 1, "aliases": 1, "lists": 1})
    r = p.post(f"/api/v1/tenants/{n['t']}/domains", {"name": f"second-{n['d']}"})
    limit_problem(r, "domains", "tenant")
    d = n["d"]
    add_user(p, d, "x")
    mk = lambda local, kind: p.post(f"/api/v1/domains/{d}/aliases", {
        "local_part": local, "kind": kind, "targets": [f"x@{d}"]})
    assert mk("a1", "alias").status == 201
    limit_problem(mk("a2", "alias"), "aliases", "tenant")
    assert mk("g1", "group").status == 201
    limit_problem(mk("g2", "group"), "lists", "tenant")


def test_storage_is_allocated(api, stack):
    p, n = make_tree(api, stack, reseller_limits={"storage_bytes": 10 * 2**30},
                 tenant_limits={"storage_bytes": 2 * 2**30},
                 domain_limits={"storage_bytes": 2**30})
    # a second domain may have the rest, not more
    r = p.post(f"/api/v1/tenants/{n['t']}/domains",
               {"name": f"b-{n['d']}", "limits": {"storage_bytes": 2 * 2**30}})
    limit_problem(r, "storage_bytes", "tenant")
    r = p.post(f"/api/v1/tenants/{n['t']}/domains",
               {"name": f"b-{n['d']}", "limits": {"storage_bytes": 2**30}})
    assert r.status == 201, r
    # the tenant cannot shrink below what its domains hold
    limit_problem(p.patch(f"/api/v1/tenants/{n['t']}", {"limits": {"storage_bytes": 2**30}}),
                  "storage_bytes", "tenant")
    # a user cannot have more than its domain
    r = add_user(p, n["d"], "big", quota_bytes=2 * 2**30)
    assert r.status in (409, 422), r


def test_concurrent_creates_never_overshoot(api, stack):
    p, n = make_tree(api, stack, tenant_limits={"users": 5})
    results = []
    lock = threading.Lock()

    def worker(k):
        for i in range(6):
            r = add_user(p, n["d"], f"c{k}-{i}")
            with lock:
                results.append(r)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = [r for r in results if r.status == 201]
    assert len(created) == 5, [r.status for r in results]
    for r in results:
        if r.status != 201:
            limit_problem(r, "users", "tenant")
    page = must(p.get(f"/api/v1/domains/{n['d']}/users?limit=100"), 200)
    assert len(page["items"]) == 5
