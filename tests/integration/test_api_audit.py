"""Every mutation of the REST API writes an audit record with its actor,
role, action, target, changed fields and client address, readable by the
admins of that subtree; secrets never appear in it."""
import uuid

from api_world import PASSWORD, api, must, provider_token, webd  # noqa: F401


def test_each_mutation_is_audited(api, stack):
    p = api.with_token(provider_token(stack))
    u = uuid.uuid4().hex[:8]
    r, t, d = f"ar-{u}", f"at-{u}", f"ad-{u}.test"
    steps = [
        ("reseller.create", lambda: p.post("/api/v1/resellers", {"name": r}), 201),
        ("reseller.update", lambda: p.patch(f"/api/v1/resellers/{r}", {"display_name": "R"}), 200),
        ("tenant.create", lambda: p.post("/api/v1/tenants", {"name": t, "reseller": r}), 201),
        ("tenant.update", lambda: p.patch(f"/api/v1/tenants/{t}", {"display_name": "T"}), 200),
        ("domain.create", lambda: p.post(f"/api/v1/tenants/{t}/domains", {"name": d}), 201),
        ("domain.update", lambda: p.patch(f"/api/v1/domains/{d}", {"description": "D"}), 200),
        ("domain_alias.create", lambda: p.post(f"/api/v1/domains/{d}/domain-aliases",
                                               {"name": f"alias-{d}"}), 201),
        ("domain_alias.delete", lambda: p.delete(f"/api/v1/domains/{d}/domain-aliases/alias-{d}"), 204),
        ("department.create", lambda: p.post(f"/api/v1/domains/{d}/departments", {"name": "Ops"}), 201),
        ("user.create", lambda: p.post(f"/api/v1/domains/{d}/users",
                                       {"local_part": "eve", "password": PASSWORD}), 201),
        ("user.update", lambda: p.patch(f"/api/v1/domains/{d}/users/eve", {"display_name": "Eve"}), 200),
        ("user.password", lambda: p.post(f"/api/v1/domains/{d}/users/eve/password",
                                         {"password": "Another-Passw0rd"}), 200),
        ("alias.create", lambda: p.post(f"/api/v1/domains/{d}/aliases",
                                        {"local_part": "team", "kind": "group",
                                         "targets": [f"eve@{d}"]}), 201),
        ("alias.update", lambda: p.patch(f"/api/v1/domains/{d}/aliases/team", {"description": "x"}), 200),
        ("bcc.create", lambda: p.post(f"/api/v1/domains/{d}/bcc-rules",
                                      {"direction": "in", "local_part": "eve",
                                       "target": "archive@example.org"}), 201),
        ("policy.create", lambda: p.post(f"/api/v1/domains/{d}/policies", {"name": "default"}), 201),
        ("policy.update", lambda: p.patch(f"/api/v1/domains/{d}/policies/default",
                                          {"settings": {"internal_only": True}}), 200),
        ("dkim.create", lambda: p.post(f"/api/v1/domains/{d}/dkim-keys", {"algorithm": "ed25519"}), 201),
        ("binding.create", lambda: p.post("/api/v1/role-bindings",
                                          {"role": "domain", "scope": {"domain": d}}), 201),
        ("token.create", lambda: p.post("/api/v1/tokens", {"name": "a", "role": "tenant",
                                                           "scope": {"tenant": t}}), 201),
    ]
    made = {}
    for action, call, status in steps:
        resp = call()
        assert resp.status == status, (action, resp)
        made[action] = resp.json
    dept = made["department.create"]["id"]
    bcc = made["bcc.create"]["id"]
    key = made["dkim.create"]["selector"]
    second = must(p.post(f"/api/v1/domains/{d}/dkim-keys", {"algorithm": "ed25519"}), 201)
    deletes = [
        ("token.delete", f"/api/v1/tokens/{made['token.create']['id']}"),
        ("binding.delete", f"/api/v1/role-bindings/{made['binding.create']['id']}"),
        ("dkim.delete", f"/api/v1/domains/{d}/dkim-keys/{key}"),
        ("policy.delete", f"/api/v1/domains/{d}/policies/default"),
        ("bcc.delete", f"/api/v1/domains/{d}/bcc-rules/{bcc}"),
        ("alias.delete", f"/api/v1/domains/{d}/aliases/team"),
        ("user.delete", f"/api/v1/domains/{d}/users/eve"),
        ("department.delete", f"/api/v1/domains/{d}/departments/{dept}"),
    ]
    for action, path in deletes:
        resp = p.delete(path)
        assert resp.status == 204, (action, resp)
    assert second["status"] == "active"

    # the tenant's admin reads the records of its subtree
    tok = must(p.post("/api/v1/tokens", {"name": "reader", "role": "tenant",
                                         "scope": {"tenant": t}}), 201)
    reader = api.with_token(tok["token"])
    seen, cursor = [], None
    while True:
        page = must(reader.get("/api/v1/audit?limit=100" + (f"&cursor={cursor}" if cursor else "")), 200)
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    actions = {rec["action"] for rec in seen}
    expected = {a for a, _, _ in steps if not a.startswith("reseller.")} | {a for a, _ in deletes}
    assert expected <= actions, expected - actions
    for rec in seen:
        assert rec["tenant"] == t, rec
        assert rec["role"] == "provider" and rec["actor"].startswith("token "), rec
        assert rec["client_ip"] == "127.0.0.1", rec
        text = str(rec)
        assert PASSWORD not in text and "Another-Passw0rd" not in text, rec
        assert tok["token"] not in text and made["token.create"]["token"] not in text
    upd = next(rec for rec in seen if rec["action"] == "user.update")
    assert upd["target"] == f"eve@{d}" and upd["changes"] == {"display_name": "Eve"}, upd
    # reseller records are the reseller's (and the provider's), not the tenant's
    assert "reseller.create" not in actions
    full = must(p.get(f"/api/v1/audit?action=reseller.update&target={r}"), 200)
    assert [rec["changes"] for rec in full["items"]] == [{"display_name": "R"}]
