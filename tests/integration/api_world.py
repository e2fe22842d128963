"""A small provider installation built through the REST API for the API
tests: resellers (one nested), tenants under them and under the provider,
domains, departments, users, aliases, and a token for every role. Every
name carries a unique suffix so tests never collide in the shared
database."""
import os
import subprocess
import uuid

import pytest

from api_helpers import Api
from conftest import Daemon

PASSWORD = "Corr3ct-Horse-Battery"


def provider_token(stack):
    """A new provider token from `mailctl token create --role provider`."""
    r = subprocess.run([os.path.join(stack.bin, "mailctl"), "-c", stack.conf,
                        "token", "create", "--role", "provider", "--name",
                        "tests-" + uuid.uuid4().hex[:6]],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.startswith("mct_") and len(token) == 47, r.stdout
    return token


@pytest.fixture(scope="module")
def webd(stack, tmp_path_factory):
    """One mc-webd for the module."""
    log = str(tmp_path_factory.mktemp("webd") / "mc-webd.log")
    d = Daemon(stack, "mc-webd", log)
    d.wait_for(" ready:")
    yield d
    d.stop()


@pytest.fixture(scope="module")
def api(stack, webd):
    """An unauthenticated client of the module's mc-webd."""
    return Api(stack.port("https"), stack.ca)


def must(r, status):
    assert r.status == status, r
    return r.json


class World:
    """The objects and the per-role clients of one installation."""

    def __init__(self, api, stack):
        self.api = api
        self.u = uuid.uuid4().hex[:8]
        self.provider = api.with_token(provider_token(stack))
        self.names = {}
        self.ids = {}
        self.clients = {"provider": self.provider}

    def n(self, key):
        """The unique name of a named object ("r1" -> "r1-<u>")."""
        return self.names.setdefault(key, f"{key}-{self.u}")

    def d(self, key):
        """The unique domain name of key ("d1" -> "d1-<u>.test")."""
        return self.names.setdefault(key, f"{key}-{self.u}.test")

    def build(self):
        p = self.provider
        must(p.post("/api/v1/resellers", {"name": self.n("r1")}), 201)
        must(p.post("/api/v1/resellers", {"name": self.n("r1a"),
                                          "parent": self.n("r1")}), 201)
        must(p.post("/api/v1/resellers", {"name": self.n("r2")}), 201)
        for t, r in (("t1", "r1"), ("t1a", "r1a"), ("t2", "r2"), ("t3", None)):
            must(p.post("/api/v1/tenants", {"name": self.n(t),
                                            "reseller": self.n(r) if r else None}), 201)
        for dom, t in (("d1", "t1"), ("d1b", "t1"), ("d1a", "t1a"), ("d2", "t2"),
                       ("d3", "t3")):
            must(p.post(f"/api/v1/tenants/{self.n(t)}/domains", {"name": self.d(dom)}), 201)
        d1 = self.d("d1")
        for key, parent in (("sales", None), ("emea", "sales"), ("support", None)):
            body = {"name": key.capitalize()}
            if parent:
                body["parent"] = self.ids[parent]
            self.ids[key] = must(p.post(f"/api/v1/domains/{d1}/departments", body), 201)["id"]
        for local, dom, dept in (("alice", "d1", "sales"), ("erik", "d1", "emea"),
                                 ("sam", "d1", "support"), ("boss", "d1", None),
                                 ("carol", "d1b", None), ("anna", "d1a", None),
                                 ("bob", "d2", None), ("dan", "d3", None)):
            body = {"local_part": local, "password": PASSWORD}
            if dept:
                body["department"] = self.ids[dept]
            must(p.post(f"/api/v1/domains/{self.d(dom)}/users", body), 201)
        for dom, target in (("d1", "boss"), ("d2", "bob")):
            must(p.post(f"/api/v1/domains/{self.d(dom)}/aliases",
                        {"local_part": "info", "targets": [f"{target}@{self.d(dom)}"]}), 201)
        roles = {
            "reseller r1": {"role": "reseller", "scope": {"reseller": self.n("r1")}},
            "reseller r1a": {"role": "reseller", "scope": {"reseller": self.n("r1a")}},
            "reseller r2": {"role": "reseller", "scope": {"reseller": self.n("r2")}},
            "tenant t1": {"role": "tenant", "scope": {"tenant": self.n("t1")}},
            "tenant t2": {"role": "tenant", "scope": {"tenant": self.n("t2")}},
            "domain d1": {"role": "domain", "scope": {"domain": d1}},
            "assistant d1": {"role": "assistant", "scope": {"domain": d1}},
            "department sales": {"role": "department",
                                 "scope": {"domain": d1, "department": self.ids["sales"]}},
            "department support": {"role": "department",
                                   "scope": {"domain": d1, "department": self.ids["support"]}},
            "user alice": {"role": "user", "scope": {"domain": d1},
                           "holder": f"alice@{d1}"},
        }
        for who, body in roles.items():
            tok = must(p.post("/api/v1/tokens", dict(body, name=who.replace(" ", "-"))), 201)
            self.clients[who] = self.api.with_token(tok["token"])
        return self


@pytest.fixture(scope="module")
def world(api, stack):
    return World(api, stack).build()
