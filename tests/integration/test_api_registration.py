"""Self-registration over the real mc-webd (POST
/api/v1/domains/{domain}/registrations, no credentials): a closed or
unknown domain is 404 alike; "open" makes an active user who logs in over
IMAP at once; "approval" makes a pending user who cannot log in until a
domain admin restores it; the domain's rules, taken addresses and the
tenant's user limit apply (without naming the tenant); credentials sent
along give no power; every client address has its hourly allowance (429
with Retry-After); and without Redis to count, registration is refused
(503). Each test speaks from its own loopback address (127.x.y.z), so the
per-address counts never mix."""
import http.client
import imaplib
import random
import socket
import ssl
import threading
import uuid

import pytest

import ports
from api_helpers import Api
from api_world import PASSWORD, api, must, provider_token  # noqa: F401
from conftest import Daemon

LIMIT = 3  # [webd] registrations_per_hour of this module's mc-webd


@pytest.fixture(scope="module")
def webd(stack, tmp_path_factory):
    """The module's mc-webd (api_world's api uses it), with a low limit."""
    log = str(tmp_path_factory.mktemp("webd") / "mc-webd.log")
    d = Daemon(stack, "mc-webd", log,
               env={"MAILCORE_WEBD_REGISTRATIONS_PER_HOUR": str(LIMIT)})
    d.wait_for(" ready:")
    yield d
    d.stop()


class From(Api):
    """A client that connects from a given loopback source address."""

    def __init__(self, base, source, port=None):
        super().__init__(port or base.port, base.ca, base.token, base.host,
                         base.tls, base.validate)
        self.source = source

    def with_token(self, token):
        c = From(self, self.source, self.port)
        c.token = token
        return c

    def _connection(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.check_hostname = False
        return http.client.HTTPSConnection(
            self.host, self.port, timeout=30, context=ctx,
            source_address=(self.source, 0))


def new_ip():
    """A loopback address no other test uses."""
    return "127.%d.%d.%d" % (random.randrange(1, 255), random.randrange(0, 256),
                             random.randrange(1, 255))


def visitor(api, port=None):
    """An anonymous client from a fresh address."""
    return From(api, new_ip(), port)


def registrations(d):
    return f"/api/v1/domains/{d}/registrations"


@pytest.fixture(scope="module")
def provider(api, stack):
    return api.with_token(provider_token(stack))


def new_domain(provider, mode=None, limits=None):
    """A fresh tenant and domain (its self_registration set by PATCH)."""
    u = uuid.uuid4().hex[:8]
    body = {"name": f"rt-{u}"}
    if limits:
        body["limits"] = limits
    must(provider.post("/api/v1/tenants", body), 201)
    d = f"reg-{u}.test"
    dom = must(provider.post(f"/api/v1/tenants/rt-{u}/domains", {"name": d}), 201)
    assert dom["self_registration"] == "off"
    if mode:
        r = must(provider.patch(f"/api/v1/domains/{d}", {"self_registration": mode}), 200)
        assert r["self_registration"] == mode
    return d


def imap_login(stack, address, password):
    ctx = ssl.create_default_context(cafile=stack.ca)
    ctx.check_hostname = False
    with imaplib.IMAP4_SSL("127.0.0.1", stack.port("imaps"), ssl_context=ctx) as c:
        try:
            c.login(address, password)
            return True
        except imaplib.IMAP4.error:
            return False


def audit(provider, action, target):
    return must(provider.get(f"/api/v1/audit?action={action}&target={target}"), 200)["items"]


def test_closed_and_unknown_domains_are_the_same_404(api, provider):
    d = new_domain(provider)
    v = visitor(api)
    closed = v.post(registrations(d), {"local_part": "zed", "password": PASSWORD})
    unknown = v.post(registrations("nowhere-" + d),
                     {"local_part": "zed", "password": PASSWORD})
    assert closed.status == unknown.status == 404, (closed, unknown)
    assert closed.json["detail"] == unknown.json["detail"]
    assert closed.header("content-type").startswith("application/problem+json")
    assert must(provider.get(f"/api/v1/domains/{d}/users"), 200)["items"] == []


def test_open_registration_is_active_and_logs_in(api, provider, stack, daemon):
    daemon("mc-imapd")
    d = new_domain(provider, "open")
    v = visitor(api)
    r = v.post(registrations(d), {"local_part": "Newbie", "password": PASSWORD,
                                  "display_name": "New Bie"})
    assert r.status == 201, r
    assert r.json == {"address": f"newbie@{d}", "status": "active"}
    assert r.header("location") is None
    assert r.header("etag") is None
    user = must(provider.get(f"/api/v1/domains/{d}/users/newbie"), 200)
    assert user["status"] == "active" and user["display_name"] == "New Bie"
    assert imap_login(stack, f"newbie@{d}", PASSWORD)
    recs = audit(provider, "user.register", f"newbie@{d}")
    assert len(recs) == 1, recs
    assert recs[0]["actor"] == f"self-registration ({v.source})"
    assert recs[0]["client_ip"] == v.source and recs[0]["role"] == "user"
    assert recs[0]["changes"] == {"status": "active", "self_registration": "open"}
    created = audit(provider, "user.create", f"newbie@{d}")
    assert len(created) == 1 and created[0]["changes"]["password"] == "***"


def test_approval_is_pending_until_a_domain_admin_restores(api, provider, stack,
                                                           daemon):
    daemon("mc-imapd")
    d = new_domain(provider, "approval")
    r = visitor(api).post(registrations(d), {"local_part": "wanna",
                                             "password": PASSWORD})
    assert r.status == 201, r
    assert r.json == {"address": f"wanna@{d}", "status": "pending"}
    assert not imap_login(stack, f"wanna@{d}", PASSWORD)
    tok = must(provider.post("/api/v1/tokens", {"name": "approver", "role": "domain",
                                                "scope": {"domain": d}}), 201)["token"]
    admin = api.with_token(tok)
    pending = must(admin.get(f"/api/v1/domains/{d}/users?status=pending"), 200)["items"]
    assert [u["address"] for u in pending] == [f"wanna@{d}"]
    assert must(admin.get(f"/api/v1/domains/{d}/users?status=active"), 200)["items"] == []
    restored = must(admin.post(f"/api/v1/domains/{d}/users/wanna/restore"), 200)
    assert restored["status"] == "active"
    assert imap_login(stack, f"wanna@{d}", PASSWORD)
    assert must(admin.get(f"/api/v1/domains/{d}/users?status=pending"), 200)["items"] == []


def test_the_domain_rules_apply(api, provider):
    d = new_domain(provider, "open")
    must(provider.patch(f"/api/v1/domains/{d}",
                        {"password_policy": {"min_length": 12, "classes": ["digit"]}}), 200)
    must(provider.post(f"/api/v1/domains/{d}/aliases",
                       {"local_part": "team", "targets": [f"x@{d}"]}), 201)
    cases = [
        ({"local_part": "ok1", "password": "short-1"}, 422, "password"),
        ({"local_part": "ok1", "password": "long-enough-but-no-digit"}, 422, "password"),
        ({"local_part": "postmaster", "password": PASSWORD}, 422, "local_part"),
        ({"local_part": "bad name", "password": PASSWORD}, 422, "local_part"),
        ({"local_part": "ok1", "password": PASSWORD, "status": "active"}, 422, "status"),
        ({"local_part": "team", "password": PASSWORD}, 409, None),
    ]
    for body, status, field in cases:
        r = visitor(api).post(registrations(d), body)
        assert r.status == status, (body, r)
        if field:
            assert r.json["errors"][0]["field"] == field, (body, r.json)
    assert must(visitor(api).post(registrations(d), {"local_part": "taken",
                                                     "password": PASSWORD}), 201)
    again = visitor(api).post(registrations(d), {"local_part": "Taken",
                                                 "password": PASSWORD})
    assert again.status == 409 and again.json["type"].endswith("/conflict"), again
    items = must(provider.get(f"/api/v1/domains/{d}/users"), 200)["items"]
    assert [u["local_part"] for u in items] == ["taken"]


def test_the_tenant_user_limit_applies_without_naming_it(api, provider):
    d = new_domain(provider, "open", limits={"users": 1})
    tenant = "rt-" + d.split(".")[0][len("reg-"):]
    must(provider.post(f"/api/v1/domains/{d}/users",
                       {"local_part": "first", "password": PASSWORD}), 201)
    r = visitor(api).post(registrations(d), {"local_part": "second",
                                             "password": PASSWORD})
    assert r.status == 409, r
    assert r.json["type"].endswith("/limit-exceeded") and r.json["limit"] == "users"
    assert tenant not in r.text and "max" not in r.json and "level" not in r.json


def test_credentials_give_a_registration_no_power(api, provider, stack):
    closed = new_domain(provider)
    d = new_domain(provider, "approval")
    v = visitor(api).with_token(provider_token(stack))
    r = v.post(registrations(closed), {"local_part": "sneaky", "password": PASSWORD})
    assert r.status == 404, r
    r = v.post(registrations(d), {"local_part": "sneaky", "password": PASSWORD})
    assert r.status == 201 and r.json["status"] == "pending", r
    recs = audit(provider, "user.register", f"sneaky@{d}")
    assert recs[0]["actor"] == f"self-registration ({v.source})", recs


def test_each_address_has_its_hourly_allowance(api, provider):
    d, closed = new_domain(provider, "open"), new_domain(provider)
    v = visitor(api)
    for _ in range(LIMIT + 1):  # a closed domain's 404 does not count
        assert v.post(registrations(closed), {"local_part": "x",
                                              "password": PASSWORD}).status == 404
    for i in range(LIMIT):
        must(v.post(registrations(d), {"local_part": f"n{i}", "password": PASSWORD}), 201)
    r = v.post(registrations(d), {"local_part": "toomany", "password": PASSWORD})
    assert r.status == 429, r
    assert r.json["type"].endswith("/too-many-requests")
    assert 1 <= int(r.header("retry-after")) <= 3600
    # a refused attempt is refused again (the window is not extended)
    assert v.post(registrations(d), {"local_part": "x", "password": "x"}).status == 429
    other = visitor(api)
    must(other.post(registrations(d), {"local_part": "toomany", "password": PASSWORD}), 201)
    names = {u["local_part"] for u in
             must(provider.get(f"/api/v1/domains/{d}/users"), 200)["items"]}
    assert names == {f"n{i}" for i in range(LIMIT)} | {"toomany"}


class Proxy:
    """A TCP forwarder to Redis that can be cut (an outage for one mc-webd
    only)."""

    def __init__(self, port):
        self.target = port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.dead = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.dead:
                c.close()
                return
            up = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [c, up]
            for a, b in ((c, up), (up, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while (data := a.recv(65536)):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.dead = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass
        self.lsock.close()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


def test_without_redis_registration_is_refused(api, provider, stack, tmp_path):
    d = new_domain(provider, "open")
    proxy = Proxy(stack.redis_port)
    https, http_port = ports.free_port(), ports.free_port()
    w = Daemon(stack, "mc-webd", str(tmp_path / "webd-outage.log"), env={
        "MAILCORE_REDIS_PORT": str(proxy.port),
        "MAILCORE_WEBD_LISTEN_HTTPS": f"127.0.0.1:{https}",
        "MAILCORE_WEBD_LISTEN_HTTP": f"127.0.0.1:{http_port}",
        "MAILCORE_WEBD_REGISTRATIONS_PER_HOUR": "100"})
    try:
        w.wait_for(" ready:")
        must(visitor(api, https).post(registrations(d), {"local_part": "before",
                                                         "password": PASSWORD}), 201)
        proxy.cut()
        r = visitor(api, https).post(registrations(d), {"local_part": "during",
                                                        "password": PASSWORD})
        assert r.status == 503, r
        assert r.header("retry-after")
        assert "redis" not in r.text.lower()
    finally:
        proxy.cut()
        w.stop()
    names = [u["local_part"] for u in
             must(provider.get(f"/api/v1/domains/{d}/users"), 200)["items"]]
    assert names == ["before"]
