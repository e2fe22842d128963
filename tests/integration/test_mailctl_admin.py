"""mailctl's administration verbs run the same operations as the REST API,
as the provider, from the shell: resellers, tenants with limits,
departments, users in bulk, DKIM keys, DNS records, tokens, bindings, the
audit log, maintenance, and `mailctl op` for any operation."""
import json


def ok(r):
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if r.stdout.strip().startswith(("{", "[")) else r.stdout


def test_reseller_tenant_limits_and_departments(mailctl, uniq):
    ok(mailctl("reseller", "add", f"r{uniq}", "--limit", "users=2"))
    assert any(r["name"] == f"r{uniq}" for r in ok(mailctl("reseller", "list"))["items"])
    t = ok(mailctl("op", "tenant.create", "--body",
                   json.dumps({"name": uniq, "reseller": f"r{uniq}"})))
    assert t["reseller"] == f"r{uniq}"
    bad = mailctl("tenant", "set", uniq, "--limit", "users=5")
    assert bad.returncode == 1 and "users limit" in bad.stderr, bad.stderr
    assert '"level": "reseller"' in bad.stderr or '"level":"reseller"' in bad.stderr
    ok(mailctl("tenant", "set", uniq, "--limit", "users=2"))
    assert ok(mailctl("tenant", "show", uniq))["limits"]["users"] == 2
    dom = f"{uniq}.example"
    ok(mailctl("op", "domain.create", uniq, "--body", json.dumps({"name": dom})))
    sales = ok(mailctl("department", "add", dom, "Sales"))
    emea = ok(mailctl("department", "add", dom, "EMEA", "--parent", str(sales["id"])))
    assert emea["path"] == ["Sales", "EMEA"]
    tree = ok(mailctl("department", "list", dom))["items"]
    assert [d["name"] for d in tree] == ["Sales", "EMEA"]


def test_users_in_bulk_and_export(mailctl, uniq, tmp_path):
    mailctl("tenant", "add", uniq)
    dom = f"{uniq}.example"
    mailctl("domain", "add", dom, "--tenant", uniq)
    made = ok(mailctl("user", "batch", dom, "u{1..3}"))
    assert [c["address"] for c in made["created"]] == [f"u{i}@{dom}" for i in (1, 2, 3)]
    csv = tmp_path / "users.csv"
    csv.write_text("local_part,password,display_name\nann,Ann-Passw0rd-1,Ann\nu1,Xx-Passw0rd-22,dup\n")
    rep = ok(mailctl("user", "import", dom, str(csv)))
    assert (rep["created"], rep["skipped"]) == (1, 1)
    out = mailctl("user", "export", dom)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].startswith("local_part,display_name,quota_bytes")
    assert sorted(l.split(",")[0] for l in lines[1:]) == ["ann", "u1", "u2", "u3"]
    ok(mailctl("user", "delete", f"u3@{dom}"))
    shown = ok(mailctl("op", "user.get", dom, "u3"))
    assert shown["status"] == "deleted"
    assert ok(mailctl("user", "restore", f"u3@{dom}"))["status"] == "active"
    pol = ok(mailctl("user", "policy", f"ann@{dom}"))
    assert pol["protocols"] == ["imap", "pop3", "smtp", "webmail"]


def test_dkim_dns_tokens_audit_maintain(mailctl, uniq):
    mailctl("tenant", "add", uniq)
    dom = f"{uniq}.example"
    mailctl("domain", "add", dom, "--tenant", uniq)
    key = ok(mailctl("dkim", "generate", dom, "--algorithm", "ed25519"))
    assert key["dns_value"].startswith("v=DKIM1; k=ed25519; p=")
    recs = ok(mailctl("dns", "records", dom))["records"]
    types = {(r["type"], r["name"]) for r in recs}
    assert ("MX", dom) in types and (
        "TXT", f"{key['selector']}._domainkey.{dom}") in types
    assert any(r["name"] == f"_dmarc.{dom}" for r in recs)
    tok = mailctl("token", "create", "--role", "tenant", "--tenant", uniq, "--name", "ci")
    assert tok.returncode == 0 and tok.stdout.strip().startswith("mct_")
    assert "shown only once" in tok.stderr
    listed = ok(mailctl("token", "list", "--max", "500"))["items"]
    mine = [t for t in listed if t["name"] == "ci" and t["scope"]["tenant"] == uniq]
    assert len(mine) == 1 and mine[0]["prefix"] == tok.stdout.strip()[:12]
    ok(mailctl("token", "revoke", str(mine[0]["id"])))
    assert ok(mailctl("op", "token.get", str(mine[0]["id"])))["revoked_at"] is not None
    b = ok(mailctl("binding", "add", "--role", "domain", "--domain", dom, "--label", "ops"))
    assert b["scope"]["domain"] == dom
    audit = ok(mailctl("audit", "list", "--target", f"{dom} dkim {key['selector']}",
                       "--action", "dkim.create"))
    assert audit["items"] and audit["items"][0]["actor"].startswith("mailctl (")
    m = mailctl("maintain")
    assert m.returncode == 0 and "maintenance done" in m.stdout


def test_op_errors_and_exit_codes(mailctl, uniq):
    r = mailctl("op", "no.such.op")
    assert r.returncode == 2
    r = mailctl("op", "tenant.get", f"missing-{uniq}")
    assert r.returncode == 1 and "no tenant" in r.stderr
    r = mailctl("op", "tenant.create", "--body", '{"name": "Bad Name"}')
    assert r.returncode == 2 and '"field"' in r.stderr
    r = mailctl("op", "tenant.create", "--body", "{not json")
    assert r.returncode == 2
