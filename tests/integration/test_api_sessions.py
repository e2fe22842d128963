"""Web sessions of the REST API: a user logs in with its address and
password, gets a Secure, HttpOnly, SameSite=Strict cookie and a CSRF token;
reads work with the cookie alone, changes need the X-CSRF-Token header too;
logout ends the session; wrong passwords are refused and throttled."""
import uuid

import pytest

from api_world import PASSWORD, api, must, provider_token, webd  # noqa: F401


@pytest.fixture(scope="module")
def site(api, stack):
    """A tenant, a domain, an admin user with a domain-admin binding, and a
    plain user."""
    p = api.with_token(provider_token(stack))
    u = uuid.uuid4().hex[:8]
    must(p.post("/api/v1/tenants", {"name": f"ws-{u}"}), 201)
    d = f"ws-{u}.test"
    must(p.post(f"/api/v1/tenants/ws-{u}/domains", {"name": d}), 201)
    for local in ("admin", "plain"):
        must(p.post(f"/api/v1/domains/{d}/users",
                    {"local_part": local, "password": PASSWORD}), 201)
    must(p.post("/api/v1/role-bindings", {"role": "domain", "scope": {"domain": d},
                                          "holder": f"admin@{d}"}), 201)
    return p, d


def login(api, address, password):
    return api.post("/api/v1/sessions", {"address": address, "password": password})


def cookie_of(r):
    header = r.header("set-cookie")
    assert header, r
    attrs = [a.strip() for a in header.split(";")]
    name, _, value = attrs[0].partition("=")
    assert name == "mc_session" and value
    lower = {a.lower() for a in attrs[1:]}
    assert "secure" in lower and "httponly" in lower and "samesite=strict" in lower, header
    return f"mc_session={value}"


def test_login_cookie_and_csrf(api, site):
    p, d = site
    r = login(api, f"admin@{d}", PASSWORD)
    assert r.status == 201, r
    cookie, csrf = cookie_of(r), r.json["csrf_token"]
    assert r.json["role"] == "domain"
    h = {"Cookie": cookie}
    me = api.get("/api/v1/me", headers=h)
    assert me.status == 200 and me.json["role"] == "domain"
    users = api.get(f"/api/v1/domains/{d}/users", headers=h)
    assert users.status == 200
    # a change without the CSRF header is refused, with it done
    r = api.patch(f"/api/v1/domains/{d}/users/plain", {"display_name": "P"}, headers=h)
    assert r.status == 403, r
    r = api.patch(f"/api/v1/domains/{d}/users/plain", {"display_name": "P"},
                  headers=dict(h, **{"X-CSRF-Token": "not-" + csrf}))
    assert r.status == 403, r
    r = api.patch(f"/api/v1/domains/{d}/users/plain", {"display_name": "P"},
                  headers=dict(h, **{"X-CSRF-Token": csrf}))
    assert r.status == 200 and r.json["display_name"] == "P"
    audit = must(p.get(f"/api/v1/audit?target=plain@{d}&action=user.update"), 200)
    assert audit["items"][0]["actor"] == f"admin@{d}"
    # logout ends it
    r = api.delete("/api/v1/sessions/current", headers=dict(h, **{"X-CSRF-Token": csrf}))
    assert r.status == 204, r
    assert api.get("/api/v1/me", headers=h).status == 401


def test_plain_user_session_is_the_user_role(api, site):
    _, d = site
    r = login(api, f"plain@{d}", PASSWORD)
    assert r.status == 201, r
    h = {"Cookie": cookie_of(r)}
    assert api.get("/api/v1/me", headers=h).json["role"] == "user"
    assert api.get(f"/api/v1/domains/{d}/users/plain", headers=h).status == 200
    assert api.get(f"/api/v1/domains/{d}/users/admin", headers=h).status in (403, 404)


def test_wrong_password_and_unknown_user(api, site):
    _, d = site
    for address, password in ((f"admin@{d}", "wrong password"), (f"nobody@{d}", PASSWORD)):
        r = login(api, address, password)
        assert r.status == 401, r
        assert r.header("set-cookie") is None
    r = api.get("/api/v1/me", headers={"Cookie": "mc_session=forged"})
    assert r.status == 401


def test_webmail_switch_gates_a_mailbox_owner_login(api, site):
    p, d = site
    must(p.post(f"/api/v1/domains/{d}/users", {"local_part": "nowm", "password": PASSWORD}), 201)
    must(p.patch(f"/api/v1/domains/{d}/users/nowm", {"protocols": ["imap", "smtp"]}), 200)
    r = login(api, f"nowm@{d}", PASSWORD)
    assert r.status == 403 and "webmail" in r.json["detail"], r
    assert r.header("set-cookie") is None
    must(p.patch(f"/api/v1/domains/{d}/users/nowm", {"protocols": ["imap", "webmail"]}), 200)
    assert login(api, f"nowm@{d}", PASSWORD).status == 201
