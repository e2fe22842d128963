"""A domain's inbound protection settings over the REST API: the
filter_settings overrides (only the keys mc-filter knows, each with the
right type and range; a 422 names the key), the attachment blocklist and
its action (normalised as stored), and the content rules (created after
validation by mc-content-rules, listed in position order, deleted), for
tenant and domain admins of the domain only, every change audited.
Responses are checked against api/openapi.yaml."""
import json

import pytest

from api_world import api, webd, world  # noqa: F401 (fixtures)


def ok(r, status=200):
    assert r.status == status, r
    return r.json


def field_of(r):
    assert r.status == 422, r
    return r.json["errors"][0]["field"]


def stored(stack, domain, col):
    return stack.psql(f"SELECT {col} FROM domains WHERE name = '{domain}'")[0][0]


GOOD = {"spf_fail": "tag", "spf_softfail": "reject", "dmarc": False, "virus": "tag",
        "tag": "[SPAM]", "virus_tag": "[VIRUS]", "greylist": "always", "spam_tag": 4.5,
        "spam_junk": 8, "spam_reject": 15, "greylist_score": 3}


def test_filter_settings_stored_and_shown(world, stack):
    w = world
    d1 = w.d("d1")
    dom = ok(w.clients["domain d1"].patch(f"/api/v1/domains/{d1}", {"filter_settings": GOOD}))
    assert dom["filter_settings"] == GOOD
    assert json.loads(stored(stack, d1, "filter_settings::text")) == GOOD
    assert ok(w.provider.get(f"/api/v1/domains/{d1}"))["filter_settings"] == GOOD
    # the object replaces the stored one; {} = the server defaults
    dom = ok(w.clients["tenant t1"].patch(f"/api/v1/domains/{d1}",
                                          {"filter_settings": {"dmarc": True}}))
    assert dom["filter_settings"] == {"dmarc": True}
    # other members leave it alone
    dom = ok(w.provider.patch(f"/api/v1/domains/{d1}", {"description": "x"}))
    assert dom["filter_settings"] == {"dmarc": True}
    dom = ok(w.provider.patch(f"/api/v1/domains/{d1}", {"filter_settings": {}}))
    assert dom["filter_settings"] == {}
    assert stored(stack, d1, "filter_settings::text") == "{}"
    # other domains keep theirs
    assert ok(w.provider.get(f"/api/v1/domains/{w.d('d2')}"))["filter_settings"] == {}
    # a new domain may come with them
    name = f"new-{w.u}.test"
    dom = ok(w.provider.post(f"/api/v1/tenants/{w.n('t3')}/domains",
                             {"name": name, "filter_settings": {"greylist": "off"},
                              "attachment_blocklist": ["exe"]}), 201)
    assert dom["filter_settings"] == {"greylist": "off"}
    assert dom["attachment_blocklist"] == ["exe"]


@pytest.mark.parametrize("key,value", [
    ("spf_fail", "maybe"), ("spf_softfail", True), ("dmarc", "yes"), ("virus", "quarantine"),
    ("tag", 12), ("tag", "x" * 65), ("virus_tag", "bad\ttag"), ("greylist", "sometimes"),
    ("spam_tag", -1), ("spam_junk", 1001), ("spam_reject", "10"), ("greylist_score", None),
    ("bogus", 1), ("SPF_FAIL", "tag"),
])
def test_filter_settings_refused_naming_the_key(world, stack, key, value):
    w = world
    d1 = w.d("d1")
    before = stored(stack, d1, "filter_settings::text")
    r = w.provider.patch(f"/api/v1/domains/{d1}", {"filter_settings": {"dmarc": True,
                                                                        key: value}})
    assert field_of(r) == f"filter_settings.{key}", r
    assert r.header("content-type").startswith("application/problem+json")
    assert stored(stack, d1, "filter_settings::text") == before


def test_filter_settings_must_be_an_object(world):
    w = world
    for bad in ([], "reject", 1, None):
        r = w.provider.patch(f"/api/v1/domains/{w.d('d1')}", {"filter_settings": bad})
        assert field_of(r) == "filter_settings", (bad, r)


def test_attachment_blocklist(world, stack):
    w = world
    d1 = w.d("d1")
    c = w.clients["domain d1"]
    dom = ok(c.patch(f"/api/v1/domains/{d1}",
                     {"attachment_blocklist": [".EXE", "tar.gz", "Video/*",
                                               "application/x-msdownload"],
                      "attachment_blocklist_action": "quarantine"}))
    assert dom["attachment_blocklist"] == ["exe", "tar.gz", "video/*",
                                           "application/x-msdownload"]
    assert dom["attachment_blocklist_action"] == "quarantine"
    assert stored(stack, d1, "attachment_blocklist::text") == \
        "{exe,tar.gz,video/*,application/x-msdownload}"
    assert field_of(c.patch(f"/api/v1/domains/{d1}",
                            {"attachment_blocklist": ["exe", "not an ext"]})) == \
        "attachment_blocklist"
    assert field_of(c.patch(f"/api/v1/domains/{d1}",
                            {"attachment_blocklist": ["x"] * 201})) == "attachment_blocklist"
    assert field_of(c.patch(f"/api/v1/domains/{d1}",
                            {"attachment_blocklist_action": "drop"})) == \
        "attachment_blocklist_action"
    dom = ok(c.patch(f"/api/v1/domains/{d1}", {"attachment_blocklist": []}))
    assert dom["attachment_blocklist"] == []
    assert dom["attachment_blocklist_action"] == "quarantine"


def test_settings_scope(world):
    w = world
    d1 = w.d("d1")
    body = {"filter_settings": {"dmarc": False}}
    for role in ("assistant d1", "department sales", "user alice"):
        assert w.clients[role].patch(f"/api/v1/domains/{d1}", body).status == 403, role
        assert w.clients[role].patch(f"/api/v1/domains/{d1}",
                                     {"attachment_blocklist": ["exe"]}).status == 403, role
    assert w.clients["tenant t2"].patch(f"/api/v1/domains/{d1}", body).status == 404
    assert w.clients["domain d1"].patch(f"/api/v1/domains/{w.d('d1b')}", body).status == 404
    assert w.clients["reseller r2"].patch(f"/api/v1/domains/{d1}", body).status == 404
    assert ok(w.clients["reseller r1"].patch(f"/api/v1/domains/{d1}",
                                             body))["filter_settings"] == {"dmarc": False}


RULE = {"name": "no invoices", "match": "any",
        "conditions": [{"field": "subject", "op": "contains", "value": "invoice"},
                       {"any": [{"field": "attachment_name", "op": "ends_with",
                                 "value": ".js"},
                                {"field": "size", "op": "gt", "value": "10M"}]}],
        "action": {"type": "reject", "text": "550 no invoices here"}}


def rules_path(w, key="d1"):
    return f"/api/v1/domains/{w.d(key)}/content-rules"


def test_content_rules_crud(world, stack):
    w = world
    c = w.clients["domain d1"]
    r = c.post(rules_path(w), RULE)
    first = ok(r, 201)
    assert first["name"] == "no invoices" and first["position"] == 0
    assert first["enabled"] is True and first["match"] == "any"
    assert first["conditions"] == RULE["conditions"] and first["action"] == RULE["action"]
    assert r.header("location") == f"{rules_path(w)}/{first['id']}"
    second = ok(w.clients["tenant t1"].post(rules_path(w), {
        "name": "tag external", "enabled": False,
        "conditions": [{"field": "header:X-Origin", "op": "matches", "value": "^ext-[0-9]+$"}],
        "action": {"type": "tag", "text": "[EXTERNAL]"}}), 201)
    assert second["position"] == 1 and second["enabled"] is False
    assert second["match"] == "all"
    early = ok(c.post(rules_path(w), {"name": "bcc boss", "position": 5,
                                      "conditions": [{"field": "recipient", "op": "equals",
                                                      "value": f"sam@{w.d('d1')}"}],
                                      "action": {"type": "bcc",
                                                 "address": f"boss@{w.d('d1')}"}}), 201)
    page = ok(c.get(rules_path(w)))
    assert [x["name"] for x in page["items"]] == ["no invoices", "tag external", "bcc boss"]
    page = ok(c.get(rules_path(w) + "?sort=-position&limit=2"))
    assert [x["name"] for x in page["items"]] == ["bcc boss", "tag external"]
    assert page["next_cursor"]
    assert stack.psql(f"SELECT name, position, enabled FROM content_rules WHERE id = "
                      f"{second['id']}") == [["tag external", "1", "f"]]
    # a taken position
    r = c.post(rules_path(w), dict(RULE, name="dup", position=1))
    assert r.status == 409, r
    # delete
    assert c.delete(f"{rules_path(w)}/{early['id']}").status == 204
    assert c.delete(f"{rules_path(w)}/{early['id']}").status == 404
    assert [x["name"] for x in ok(c.get(rules_path(w)))["items"]] == [
        "no invoices", "tag external"]
    # another domain's rules are its own
    assert ok(w.provider.get(rules_path(w, "d1b")))["items"] == []
    assert w.provider.delete(f"{rules_path(w, 'd1b')}/{first['id']}").status == 404


@pytest.mark.parametrize("body,field", [
    (dict(RULE, conditions=[{"field": "subject", "op": "matches", "value": "(unclosed"}]),
     "conditions[0].value"),
    (dict(RULE, conditions=[{"field": "colour", "op": "contains", "value": "x"}]),
     "conditions[0].field"),
    (dict(RULE, conditions=[{"field": "size", "op": "gt", "value": "huge"}]),
     "conditions[0].value"),
    (dict(RULE, action={"type": "explode"}), "action.type"),
    (dict(RULE, action={"type": "bcc"}), "action.address"),
    (dict(RULE, colour="red"), None),
    ({k: v for k, v in RULE.items() if k != "action"}, None),
    (dict(RULE, conditions=[]), None),
    (dict(RULE, name=""), None),
    (dict(RULE, conditions=[{"field": "subject", "op": "contains", "value": "x"}] * 21), None),
])
def test_content_rule_validation(world, stack, body, field):
    w = world
    n = stack.psql("SELECT count(*) FROM content_rules")[0][0]
    r = w.clients["domain d1"].post(rules_path(w), body)
    assert r.status == 422, r
    assert r.json["errors"], r
    if field is not None:
        assert r.json["errors"][0]["field"] == field, r.json
    assert stack.psql("SELECT count(*) FROM content_rules")[0][0] == n


def test_content_rules_scope(world):
    w = world
    for role in ("assistant d1", "department sales", "user alice"):
        c = w.clients[role]
        for r in (c.get(rules_path(w)), c.post(rules_path(w), dict(RULE, name=role)),
                  c.delete(f"{rules_path(w)}/1")):
            assert r.status == 403, (role, r)
    for who, key in (("tenant t2", "d1"), ("domain d1", "d1b"), ("reseller r2", "d1")):
        c = w.clients[who]
        for r in (c.get(rules_path(w, key)), c.post(rules_path(w, key), RULE)):
            assert r.status == 404, (who, r)
            assert "items" not in r.json
    assert w.clients["reseller r1"].get(rules_path(w)).status == 200


def test_changes_are_audited(world):
    w = world
    page = ok(w.clients["tenant t1"].get("/api/v1/audit?limit=500"))
    acts = [r for r in page["items"] if r["domain"] == w.d("d1")]
    creates = [r for r in acts if r["action"] == "content_rules.create"]
    assert {r["changes"]["name"] for r in creates} >= {"no invoices", "tag external"}
    assert any(r["action"] == "content_rules.delete" for r in acts)
    upd = [r for r in acts if r["action"] == "domain.update"
           and "filter_settings" in r["changes"]]
    assert upd, acts
