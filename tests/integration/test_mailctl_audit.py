"""The older mailctl commands (tenant/domain/user/alias/sendas/network,
which change the tenant model through mc-tenants.h) write an audit record
like the operations do: action, target, actor "mailctl (<unix user>)" with
role provider, placed at the target's tenant, domain and department, the
changed fields (passwords only as "***"), visible to `mailctl audit list`.
A failed change writes none; their output is unchanged."""
import json
import os
import pwd

import pytest

ACTOR = f"mailctl ({pwd.getpwuid(os.getuid()).pw_name})"


def ok(r, stdout=None):
    assert r.returncode == 0, r.stderr
    if stdout is not None:
        assert r.stdout == stdout
    return r


def records(stack, target):
    """The audit rows of target, oldest first, as dicts."""
    rows = stack.psql(
        "SELECT action, target, actor, actor_role, coalesce(tenant_id::text, ''), "
        "coalesce(domain_id::text, ''), coalesce(department_id::text, ''), "
        "changes::text, reseller_path::text FROM audit_log "
        f"WHERE target = '{target}' ORDER BY id")
    keys = ("action", "target", "actor", "role", "tenant_id", "domain_id",
            "department_id", "changes", "reseller_path")
    out = [dict(zip(keys, r)) for r in rows]
    for o in out:
        o["changes"] = json.loads(o["changes"])
    return out


def only(stack, target, action):
    """The one record of action on target."""
    rs = [r for r in records(stack, target) if r["action"] == action]
    assert len(rs) == 1, records(stack, target)
    r = rs[0]
    assert (r["actor"], r["role"], r["target"]) == (ACTOR, "provider", target)
    return r


def tenant_id(stack, name):
    return stack.psql(f"SELECT id FROM tenants WHERE name = '{name}'")[0][0]


def domain_id(stack, name):
    return stack.psql(f"SELECT id FROM domains WHERE name = '{name}'")[0][0]


@pytest.fixture
def dom(mailctl, stack, uniq):
    """A tenant uniq with the domain uniq.example, made by mailctl."""
    ok(mailctl("tenant", "add", uniq), f"tenant {uniq} added\n")
    d = f"{uniq}.example"
    ok(mailctl("domain", "add", d.upper(), "--tenant", uniq),
       f"domain {d.upper()} added to tenant {uniq}\n")
    return uniq, d


def test_tenant_and_domain_creation(stack, dom):
    t, d = dom
    r = only(stack, t, "tenant.create")
    assert (r["tenant_id"], r["domain_id"]) == (tenant_id(stack, t), "")
    assert r["changes"] == {"name": t} and r["reseller_path"] == "{}"
    r = only(stack, d, "domain.create")
    assert (r["tenant_id"], r["domain_id"]) == (tenant_id(stack, t), domain_id(stack, d))
    assert r["changes"] == {"name": d, "tenant": t}


def test_domain_alias_is_placed_at_its_domain(mailctl, stack, dom):
    t, d = dom
    alias = f"alias-{d}"
    ok(mailctl("domain", "alias", alias.upper(), d),
       f"domain {alias.upper()} added as an alias of {d}\n")
    r = only(stack, alias, "domain_alias.create")
    assert (r["tenant_id"], r["domain_id"]) == (tenant_id(stack, t), domain_id(stack, d))
    assert r["changes"] == {"domain": d}


def test_domain_set_records_the_changed_fields(mailctl, stack, dom):
    t, d = dom
    ok(mailctl("domain", "set", d, "--status", "suspended", "--expires", "2031-02-03",
               "--quota", "1G", "--max-message-size", "10M", "--default-user-quota",
               "100M", "--quota-permanent", "yes", "--catchall", f"a@{d},b@x.example"),
       f"domain {d} updated\n")
    r = only(stack, d, "domain.update")
    assert (r["tenant_id"], r["domain_id"]) == (tenant_id(stack, t), domain_id(stack, d))
    assert r["changes"] == {
        "status": "suspended", "expires": "2031-02-03",
        "limits": {"storage_bytes": 1 << 30, "message_bytes": 10 << 20},
        "default_user_quota": 100 << 20, "quota_permanent": True,
        "catchall": [f"a@{d}", "b@x.example"]}
    ok(mailctl("domain", "set", d, "--expires", "never", "--catchall", "none"))
    r = [x for x in records(stack, d) if x["action"] == "domain.update"][-1]
    assert r["changes"] == {"expires": None, "catchall": []}


def test_user_commands_never_record_the_password(mailctl, stack, dom, uniq):
    t, d = dom
    addr = f"alice@{d}"
    pw1, pw2 = f"first-{uniq}-secret", f"second-{uniq}-secret"
    ok(mailctl("user", "add", f"Alice@{d}", "--password", pw1),
       f"user Alice@{d} added\n")
    ok(mailctl("user", "passwd", addr, "--password-stdin", input=pw2 + "\n"),
       f"user {addr} password changed\n")
    r = only(stack, addr, "user.create")
    assert (r["tenant_id"], r["domain_id"], r["department_id"]) == (
        tenant_id(stack, t), domain_id(stack, d), "")
    assert r["changes"] == {"local_part": "alice", "password": "***"}
    assert only(stack, addr, "user.password")["changes"] == {"password": "***"}
    leaks = stack.psql("SELECT count(*) FROM audit_log a WHERE "
                       f"position('{uniq}-secret' IN a::text) > 0")
    assert leaks == [["0"]]


def test_user_set_is_placed_at_the_users_department(mailctl, stack, dom):
    t, d = dom
    addr = f"bob@{d}"
    ok(mailctl("user", "add", addr, "--password", "pw-of-bob"))
    dept = json.loads(ok(mailctl("department", "add", d, "Sales")).stdout)["id"]
    stack.psql(f"UPDATE users SET department_id = {dept} WHERE local_part = 'bob' "
               f"AND domain_id = {domain_id(stack, d)}")
    ok(mailctl("user", "set", addr, "--status", "frozen", "--quota", "50M",
               "--display-name", "Bob B", "--forward", f"x@{d},y@other.example",
               "--keep-copy", "yes", "--imap-backend", "none", "--protocols",
               "imap,smtp"),
       f"user {addr} updated\n")
    r = only(stack, addr, "user.update")
    assert (r["tenant_id"], r["domain_id"], r["department_id"]) == (
        tenant_id(stack, t), domain_id(stack, d), str(dept))
    assert r["changes"] == {
        "status": "frozen", "quota_bytes": 50 << 20, "display_name": "Bob B",
        "forward": {"targets": [f"x@{d}", "y@other.example"], "keep_copy": True},
        "imap_backend": None, "protocols": ["imap", "smtp"]}


def test_alias_add_and_remove(mailctl, stack, dom):
    t, d = dom
    addr = f"team@{d}"
    ok(mailctl("alias", "add", addr, f"a@{d}", "ext@other.example"),
       f"alias {addr} added (2 targets)\n")
    ok(mailctl("alias", "remove", addr.upper()), f"alias {addr.upper()} removed\n")
    created, deleted = records(stack, addr)
    assert (created["action"], deleted["action"]) == ("alias.create", "alias.delete")
    for r in (created, deleted):
        assert (r["actor"], r["role"]) == (ACTOR, "provider")
        assert (r["tenant_id"], r["domain_id"], r["department_id"]) == (
            tenant_id(stack, t), domain_id(stack, d), "")
    assert created["changes"] == {"kind": "alias", "targets": [f"a@{d}", "ext@other.example"]}
    assert deleted["changes"] == {}


def test_sendas_add_and_remove(mailctl, stack, dom):
    t, d = dom
    user = f"carol@{d}"
    ok(mailctl("user", "add", user, "--password", "pw-of-carol"))
    ok(mailctl("sendas", "add", user, f"@{d}"), f"{user} may now send as @{d}\n")
    ok(mailctl("sendas", "remove", user, f"@{d}"),
       f"{user} may no longer send as @{d}\n")
    for action in ("send_as.create", "send_as.delete"):
        r = only(stack, user, action)
        assert (r["tenant_id"], r["domain_id"]) == (tenant_id(stack, t), domain_id(stack, d))
        assert r["changes"] == {"address": f"@{d}"}


def test_network_add_and_remove(mailctl, stack, dom):
    t, _ = dom
    ok(mailctl("network", "add", t, "10.20.0.0/16"),
       f"network 10.20.0.0/16 added to tenant {t}\n")
    ok(mailctl("network", "remove", t, "10.20.0.0/16"),
       f"network 10.20.0.0/16 removed from tenant {t}\n")
    for action in ("network.create", "network.delete"):
        r = only(stack, t, action)
        assert (r["tenant_id"], r["domain_id"]) == (tenant_id(stack, t), "")
        assert r["changes"] == {"network": "10.20.0.0/16"}


def test_failed_changes_write_no_record(mailctl, stack, dom):
    t, d = dom
    before = records(stack, t) + records(stack, d)
    assert mailctl("tenant", "add", t).returncode == 1
    assert mailctl("domain", "add", d, "--tenant", t).returncode == 1
    assert mailctl("domain", "set", d, "--status", "bogus").returncode == 2
    assert mailctl("network", "remove", t, "10.99.0.0/16").returncode == 1
    assert records(stack, t) + records(stack, d) == before
    assert mailctl("user", "passwd", f"nobody@{d}", "--password", "x").returncode == 1
    assert mailctl("user", "add", f"dup@{d}", "--password", "x").returncode == 0
    assert mailctl("user", "add", f"dup@{d}", "--password", "y").returncode == 1
    assert mailctl("alias", "remove", f"nobody@{d}").returncode == 1
    assert records(stack, f"nobody@{d}") == []
    assert [r["action"] for r in records(stack, f"dup@{d}")] == ["user.create"]


def test_audit_list_shows_the_records(mailctl, stack, dom):
    t, d = dom
    addr = f"dave@{d}"
    ok(mailctl("user", "add", addr, "--password", "pw-of-dave"))
    ok(mailctl("user", "set", addr, "--display-name", "Dave"))
    out = ok(mailctl("audit", "list", "--target", addr)).stdout
    items = json.loads(out)["items"]
    assert [i["action"] for i in items] == ["user.update", "user.create"]  # newest first
    for i in items:
        assert (i["actor"], i["role"], i["target"]) == (ACTOR, "provider", addr)
        assert (i["tenant"], i["domain"]) == (t, d)
    assert items[1]["changes"]["password"] == "***"
    out = ok(mailctl("audit", "list", "--target", t, "--action", "tenant.create")).stdout
    [item] = json.loads(out)["items"]
    assert (item["actor"], item["tenant"], item["domain"]) == (ACTOR, t, None)


@pytest.fixture
def failing_audit(stack, uniq):
    """Makes audit inserts for targets containing 'failaudit' fail."""
    fn = f"fail_audit_{uniq}"
    stack.psql(f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN IF NEW.target LIKE '%failaudit%' THEN "
               "RAISE EXCEPTION 'audit refused'; END IF; RETURN NEW; END $$; "
               f"CREATE TRIGGER {fn} BEFORE INSERT ON audit_log FOR EACH ROW "
               f"EXECUTE FUNCTION {fn}()")
    yield
    stack.psql(f"DROP TRIGGER {fn} ON audit_log; DROP FUNCTION {fn}()")


def test_unwritable_record(mailctl, stack, dom, failing_audit):
    t, d = dom
    addr = f"failaudit@{d}"
    # user add commits its own transaction: the record follows, and its
    # failure only warns
    r = mailctl("user", "add", addr, "--password", "pw-1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"user {addr} added\n"
    assert r.stderr.startswith("mailctl: warning: audit record not written: ")
    assert "audit refused" in r.stderr
    assert stack.psql("SELECT count(*) FROM users WHERE local_part = 'failaudit' "
                      f"AND domain_id = {domain_id(stack, d)}") == [["1"]]
    # user set is one transaction with its record: nothing changes
    r = mailctl("user", "set", addr, "--display-name", "Never")
    assert r.returncode == 1 and r.stdout == ""
    assert "nothing changed: audit record not written" in r.stderr
    assert stack.psql("SELECT display_name FROM users WHERE local_part = 'failaudit' "
                      f"AND domain_id = {domain_id(stack, d)}") == [[""]]
    assert records(stack, addr) == []
