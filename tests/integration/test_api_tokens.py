"""API tokens over HTTPS: a token works until it expires or is revoked,
only from its networks, records its last use, and is never stored or
shown again; `mailctl token create --role provider` bootstraps the API."""
import datetime
import time
import uuid

from api_world import api, must, provider_token, webd  # noqa: F401


def new_tenant(p):
    name = "tk-" + uuid.uuid4().hex[:8]
    must(p.post("/api/v1/tenants", {"name": name}), 201)
    return name


def test_provider_token_from_mailctl(api, stack):
    p = api.with_token(provider_token(stack))
    me = must(p.get("/api/v1/me"), 200)
    assert me["role"] == "provider"
    assert must(p.get("/api/v1/tenants"), 200)["items"] is not None


def test_token_secret_is_shown_once_and_stored_hashed(api, stack):
    p = api.with_token(provider_token(stack))
    t = new_tenant(p)
    tok = must(p.post("/api/v1/tokens", {"name": "ci", "role": "tenant",
                                         "scope": {"tenant": t}}), 201)
    secret = tok["token"]
    assert secret.startswith("mct_") and tok["prefix"] == secret[:12]
    again = must(p.get(f"/api/v1/tokens/{tok['id']}"), 200)
    assert "token" not in again
    rows = stack.psql(f"SELECT encode(hash, 'hex') FROM api_tokens WHERE id = {tok['id']}")
    assert secret not in rows[0][0] and len(rows[0][0]) == 64
    c = api.with_token(secret)
    me = must(c.get("/api/v1/me"), 200)
    assert me["role"] == "tenant" and me["scope"]["tenant"] == t


def test_revoked_token_stops_working(api, stack):
    p = api.with_token(provider_token(stack))
    t = new_tenant(p)
    tok = must(p.post("/api/v1/tokens", {"name": "rv", "role": "tenant",
                                         "scope": {"tenant": t}}), 201)
    c = api.with_token(tok["token"])
    assert c.get("/api/v1/me").status == 200
    assert p.delete(f"/api/v1/tokens/{tok['id']}").status == 204
    r = c.get("/api/v1/me")
    assert r.status == 401 and r.header("www-authenticate").startswith("Bearer")
    shown = must(p.get(f"/api/v1/tokens/{tok['id']}"), 200)
    assert shown["revoked_at"] is not None


def test_expired_token_is_refused(api, stack):
    p = api.with_token(provider_token(stack))
    t = new_tenant(p)
    soon = (datetime.datetime.now(datetime.timezone.utc)
            + datetime.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tok = must(p.post("/api/v1/tokens", {"name": "ex", "role": "tenant",
                                         "scope": {"tenant": t}, "expires_at": soon}), 201)
    c = api.with_token(tok["token"])
    assert c.get("/api/v1/me").status == 200
    time.sleep(3)
    assert c.get("/api/v1/me").status == 401
    # a past expiry is refused at creation
    r = p.post("/api/v1/tokens", {"name": "past", "role": "tenant", "scope": {"tenant": t},
                                  "expires_at": "2001-01-01T00:00:00Z"})
    assert r.status == 422, r


def test_token_networks(api, stack):
    p = api.with_token(provider_token(stack))
    t = new_tenant(p)
    far = must(p.post("/api/v1/tokens", {"name": "far", "role": "tenant", "scope": {"tenant": t},
                                         "networks": ["10.0.0.0/8", "2001:db8::/32"]}), 201)
    assert api.with_token(far["token"]).get("/api/v1/me").status == 401
    near = must(p.post("/api/v1/tokens", {"name": "near", "role": "tenant", "scope": {"tenant": t},
                                          "networks": ["127.0.0.0/8"]}), 201)
    assert api.with_token(near["token"]).get("/api/v1/me").status == 200
    used = must(p.get(f"/api/v1/tokens/{near['id']}"), 200)
    assert used["last_used_at"] is not None and used["last_used_ip"] == "127.0.0.1"
    r = p.post("/api/v1/tokens", {"name": "bad", "role": "tenant", "scope": {"tenant": t},
                                  "networks": ["10.0.0.1/8"]})
    assert r.status == 422, r


def test_garbage_tokens(api):
    for bad in ("", "mct_", "mct_" + "A" * 43, "Basic x", "mct_" + "!" * 43):
        r = api.with_token(bad).get("/api/v1/me") if bad else api.get("/api/v1/me")
        assert r.status == 401, (bad, r)
