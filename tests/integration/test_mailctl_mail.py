"""mailctl's mail-routing commands against the real PostgreSQL and Redis:
domain aliases and settings, user settings and forwards, send-as grants,
tenant relay networks, alias removal and listing, and the directory cache
generation ("mc:dir:gen") every change bumps. Exit codes: 0 done, 1
failed (duplicate, not found), 2 bad arguments."""
import socket

import ports

DOMAIN_KEYS = ["name", "tenant", "status", "expires", "alias_for", "quota", "used",
               "default_user_quota", "max_message_size", "quota_permanent",
               "catchall", "users"]
USER_KEYS = ["address", "display_name", "status", "quota", "used", "forward",
             "keep_copy", "send_as", "created", "protocols", "imap_backend"]


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert "warning" not in r.stderr, r.stderr
    return r


def fails(r, code, text=None):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1, r.stderr
    if text is not None:
        assert text in r.stderr, r.stderr
    return r


def show(mailctl, kind, name, keys):
    """The "key: value" lines of domain/user show, checking the key order."""
    out = ok(mailctl(kind, "show", name)).stdout
    pairs = [line.split(": ", 1) for line in out.splitlines()]
    assert [p[0] for p in pairs] == keys, out
    return {k: v for k, v in pairs}


def new_domain(mailctl, uniq, tenant=None, name=None):
    tenant = tenant or uniq
    dom = name or f"{uniq}.example"
    if tenant == uniq:
        mailctl("tenant", "add", tenant)
    ok(mailctl("domain", "add", dom, "--tenant", tenant))
    return dom


def redis_get(stack, key):
    """GET key over RESP (AUTH with the stack's password first)."""
    with socket.create_connection(("127.0.0.1", stack.redis_port), timeout=5) as s:
        f = s.makefile("rb")

        def cmd(*args):
            data = b"*%d\r\n" % len(args)
            for a in args:
                a = a.encode()
                data += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(data)
            line = f.readline()
            assert line[:1] != b"-", line
            if line[:1] == b"$":
                n = int(line[1:])
                return None if n < 0 else f.read(n + 2)[:-2].decode()
            return line[1:].strip().decode()
        if stack.redis_password:
            cmd("AUTH", stack.redis_password)
        return cmd("GET", key)


def generation(stack):
    return int(redis_get(stack, "mc:dir:gen") or 0)


def test_domain_show_defaults_and_list(mailctl, stack, uniq):
    dom = new_domain(mailctl, uniq)
    d = show(mailctl, "domain", dom.upper(), DOMAIN_KEYS)
    assert d == {"name": dom, "tenant": uniq, "status": "active", "expires": "never",
                 "alias_for": "-", "quota": "0", "used": "0",
                 "default_user_quota": "0", "max_message_size": "0",
                 "quota_permanent": "no", "catchall": "-", "users": "0"}
    ok(mailctl("user", "add", f"ann@{dom}", "--password", "x"))
    ok(mailctl("user", "add", f"ben@{dom}", "--password", "x"))
    assert show(mailctl, "domain", dom, DOMAIN_KEYS)["users"] == "2"
    other = new_domain(mailctl, uniq, tenant=uniq, name=f"z-{uniq}.example")
    r = ok(mailctl("domain", "list", "--tenant", uniq.upper()))
    assert r.stdout.splitlines() == [f"{dom}\t{uniq}\tactive\t-",
                                     f"{other}\t{uniq}\tactive\t-"]
    r = ok(mailctl("domain", "list"))
    assert f"{dom}\t{uniq}\tactive\t-" in r.stdout.splitlines()
    fails(mailctl("domain", "list", "--tenant", "no-such-" + uniq), 1,
          "does not exist")
    fails(mailctl("domain", "show", f"no-such-{uniq}.example"), 1,
          f"mailctl: domain no-such-{uniq}.example does not exist")
    fails(mailctl("domain", "show"), 2)
    fails(mailctl("domain", "list", "extra"), 2)


def test_domain_set_every_setting(mailctl, stack, uniq):
    dom = new_domain(mailctl, uniq)
    ok(mailctl("user", "add", f"postmaster@{dom}", "--password", "x"))
    ok(mailctl("domain", "set", dom, "--status", "suspended", "--expires", "2031-02-28",
               "--quota", "1G", "--default-user-quota", "10M",
               "--max-message-size", "25m", "--quota-permanent", "yes",
               "--catchall", f"postmaster@{dom}, Ops@Elsewhere.example"))
    d = show(mailctl, "domain", dom, DOMAIN_KEYS)
    assert (d["status"], d["expires"], d["quota"], d["default_user_quota"],
            d["max_message_size"], d["quota_permanent"], d["catchall"]) == (
        "suspended", "2031-02-28", str(1 << 30), str(10 << 20), str(25 << 20), "yes",
        f"postmaster@{dom},Ops@elsewhere.example")
    rows = stack.psql("SELECT status, to_char(expires_at AT TIME ZONE 'UTC', "
                      "'YYYY-MM-DD HH24:MI'), quota_bytes, default_user_quota, "
                      "max_message_bytes, quota_permanent, catchall FROM domains "
                      f"WHERE name = '{dom}'")
    assert rows == [["suspended", "2031-02-28 00:00", str(1 << 30), str(10 << 20),
                     str(25 << 20), "t", f"{{postmaster@{dom},Ops@elsewhere.example}}"]]
    # Only the options given change; never and none clear.
    ok(mailctl("domain", "set", dom, "--expires", "never", "--catchall", "none",
               "--quota", "0", "--status", "active"))
    d = show(mailctl, "domain", dom, DOMAIN_KEYS)
    assert (d["status"], d["expires"], d["quota"], d["catchall"],
            d["default_user_quota"], d["quota_permanent"]) == (
        "active", "never", "0", "-", str(10 << 20), "yes")
    assert stack.psql(f"SELECT catchall IS NULL FROM domains WHERE name = '{dom}'") == [["t"]]


def test_domain_set_errors(mailctl, stack, uniq):
    dom = new_domain(mailctl, uniq)
    fails(mailctl("domain", "set", f"no-such-{uniq}.example", "--quota", "1M"), 1,
          "does not exist")
    bad = [
        ["--quota", "lots"],
        ["--quota", "-1"],
        ["--default-user-quota", "10X"],
        ["--max-message-size", ""],
        ["--status", "frozen"],
        ["--expires", "2031-02-30"],
        ["--expires", "tomorrow"],
        ["--quota-permanent", "maybe"],
        ["--catchall", "not an address"],
        ["--catchall", ","],
        ["--bogus", "x"],
        [],
    ]
    for args in bad:
        fails(mailctl("domain", "set", dom, *args), 2)
    fails(mailctl("domain", "set", "--quota", "1M"), 2)
    d = show(mailctl, "domain", dom, DOMAIN_KEYS)
    assert (d["status"], d["quota"], d["expires"]) == ("active", "0", "never")


def test_new_users_get_the_default_quota(mailctl, stack, uniq):
    dom = new_domain(mailctl, uniq)
    ok(mailctl("user", "add", f"early@{dom}", "--password", "x"))
    ok(mailctl("domain", "set", dom, "--default-user-quota", "5M"))
    ok(mailctl("user", "add", f"late@{dom}", "--password", "x"))
    assert show(mailctl, "user", f"late@{dom}", USER_KEYS)["quota"] == str(5 << 20)
    assert show(mailctl, "user", f"early@{dom}", USER_KEYS)["quota"] == "0"


def test_domain_aliases(mailctl, stack, uniq):
    dom = new_domain(mailctl, uniq)
    alias = f"old-{uniq}.example"
    ok(mailctl("domain", "alias", alias.upper(), dom))
    d = show(mailctl, "domain", alias, DOMAIN_KEYS)
    assert (d["tenant"], d["alias_for"], d["users"]) == (uniq, dom, "0")
    rows = stack.psql("SELECT a.tenant_id = d.tenant_id, a.alias_for = d.id FROM "
                      f"domains a, domains d WHERE a.name = '{alias}' AND d.name = '{dom}'")
    assert rows == [["t", "t"]]
    r = ok(mailctl("domain", "list", "--tenant", uniq))
    assert r.stdout.splitlines() == [f"{alias}\t{uniq}\tactive\t{dom}",
                                     f"{dom}\t{uniq}\tactive\t-"]
    fails(mailctl("domain", "alias", alias, dom), 1, f"domain {alias} already exists")
    fails(mailctl("domain", "alias", dom, dom), 1, "already exists")
    fails(mailctl("domain", "alias", f"x-{uniq}.example", f"none-{uniq}.example"), 1,
          f"domain none-{uniq}.example does not exist")
    fails(mailctl("domain", "alias", f"y-{uniq}.example", alias), 2, "alias of")
    fails(mailctl("domain", "alias", "bad_name", dom), 2)
    fails(mailctl("domain", "alias", alias), 2)
    msg = f"mailctl: {alias} is an alias of {dom}: add it there"
    r = fails(mailctl("user", "add", f"u@{alias}", "--password", "x"), 2)
    assert r.stderr.strip() == msg
    r = fails(mailctl("alias", "add", f"a@{alias}", f"u@{dom}"), 2)
    assert r.stderr.strip() == msg
    assert stack.psql("SELECT count(*) FROM domains WHERE name LIKE "
                      f"'%-{uniq}.example' AND name <> '{alias}'") == [["0"]]


def test_user_set_and_show(mailctl, stack, uniq):
    dom = new_domain(mailctl, uniq)
    addr = f"fay@{dom}"
    ok(mailctl("user", "add", addr, "--password", "x"))
    u = show(mailctl, "user", addr.upper(), USER_KEYS)
    assert {k: u[k] for k in USER_KEYS if k != "created"} == {
        "address": addr, "display_name": "", "status": "active", "quota": "0",
        "used": "0", "forward": "-", "keep_copy": "yes", "send_as": "-",
        "protocols": "imap,pop3,smtp,webmail", "imap_backend": "-"}
    assert u["created"].endswith("Z") and "T" in u["created"]
    ok(mailctl("user", "set", addr, "--status", "frozen", "--quota", "2G",
               "--display-name", "Fay Example", "--forward",
               f"gus@{dom},Fay.Home@Elsewhere.example", "--keep-copy", "no"))
    u = show(mailctl, "user", addr, USER_KEYS)
    assert (u["status"], u["quota"], u["display_name"], u["forward"], u["keep_copy"]) == (
        "frozen", str(2 << 30), "Fay Example",
        f"gus@{dom},Fay.Home@elsewhere.example", "no")
    rows = stack.psql("SELECT u.status, u.quota_bytes, u.forward_to, u.forward_keep_copy "
                      "FROM users u JOIN domains d ON d.id = u.domain_id "
                      f"WHERE d.name = '{dom}' AND u.local_part = 'fay'")
    assert rows == [["frozen", str(2 << 30),
                     f"{{gus@{dom},Fay.Home@elsewhere.example}}", "f"]]
    ok(mailctl("user", "set", addr, "--forward", "none", "--status", "active"))
    u = show(mailctl, "user", addr, USER_KEYS)
    assert (u["status"], u["forward"], u["keep_copy"], u["display_name"]) == (
        "active", "-", "no", "Fay Example")
    assert stack.psql("SELECT cardinality(forward_to) FROM users u JOIN domains d "
                      f"ON d.id = u.domain_id WHERE d.name = '{dom}'") == [["0"]]


def test_user_set_errors(mailctl, stack, uniq):
    dom = new_domain(mailctl, uniq)
    addr = f"hal@{dom}"
    ok(mailctl("user", "add", addr, "--password", "x"))
    fails(mailctl("user", "set", f"nobody@{dom}", "--quota", "1M"), 1,
          f"user nobody@{dom} does not exist")
    fails(mailctl("user", "show", f"nobody@{dom}"), 1, "does not exist")
    fails(mailctl("user", "set", addr, "--forward", f"HAL@{dom}"), 2, "itself")
    fails(mailctl("user", "set", addr, "--forward", f"x@{dom},{addr}"), 2, "itself")
    for args in (["--status", "deleted"], ["--quota", "1Q"], ["--keep-copy", "1"],
                 ["--forward", "bad address"], ["--display-name", "a\nb"], []):
        fails(mailctl("user", "set", addr, *args), 2)
    fails(mailctl("user", "show"), 2)
    u = show(mailctl, "user", addr, USER_KEYS)
    assert (u["status"], u["forward"], u["quota"]) == ("active", "-", "0")


def test_send_as_grants(mailctl, stack, uniq):
    dom = new_domain(mailctl, uniq)
    alias = f"old-{uniq}.example"
    ok(mailctl("domain", "alias", alias, dom))
    user = f"ivy@{dom}"
    ok(mailctl("user", "add", user, "--password", "x"))
    ok(mailctl("sendas", "add", user, f"Sales@{dom.upper()}"))
    ok(mailctl("sendas", "add", user.upper(), f"@{dom}"))
    ok(mailctl("sendas", "add", user, f"@{alias}"))
    u = show(mailctl, "user", user, USER_KEYS)
    assert u["send_as"] == ",".join(sorted([f"sales@{dom}", f"@{dom}", f"@{alias}"]))
    rows = stack.psql("SELECT s.address FROM send_as s JOIN users u ON u.id = s.user_id "
                      f"JOIN domains d ON d.id = u.domain_id WHERE d.name = '{dom}' "
                      "ORDER BY 1")
    assert rows == sorted([[f"sales@{dom}"], [f"@{dom}"], [f"@{alias}"]])
    fails(mailctl("sendas", "add", user, f"sales@{dom}"), 1, "already")
    r = fails(mailctl("sendas", "add", user, "ceo@elsewhere.example"), 2)
    assert f"not in a domain of tenant {uniq}" in r.stderr
    ok(mailctl("tenant", "add", "o" + uniq))
    other = new_domain(mailctl, uniq, tenant="o" + uniq, name=f"o{uniq}.example")
    fails(mailctl("sendas", "add", user, f"@{other}"), 2, "not in a domain of tenant")
    fails(mailctl("sendas", "add", user, "not-an-address"), 2)
    fails(mailctl("sendas", "add", f"nobody@{dom}", f"@{dom}"), 1, "does not exist")
    fails(mailctl("sendas", "add", user), 2)
    ok(mailctl("sendas", "remove", user, f"SALES@{dom}"))
    assert show(mailctl, "user", user, USER_KEYS)["send_as"] == ",".join(
        sorted([f"@{dom}", f"@{alias}"]))
    fails(mailctl("sendas", "remove", user, f"sales@{dom}"), 1, "no send-as grant")
    fails(mailctl("sendas", "remove", f"nobody@{dom}", f"@{dom}"), 1, "does not exist")


def test_relay_networks(mailctl, stack, uniq):
    mailctl("tenant", "add", uniq)
    ok(mailctl("network", "add", uniq, "192.0.2.0/24"))
    ok(mailctl("network", "add", uniq, "2001:DB8::/32"))
    ok(mailctl("network", "add", uniq, "198.51.100.7"))
    r = ok(mailctl("network", "list", uniq))
    assert r.stdout.splitlines() == ["192.0.2.0/24", "198.51.100.7/32", "2001:db8::/32"]
    rows = stack.psql("SELECT n.network FROM tenant_networks n JOIN tenants t ON "
                      f"t.id = n.tenant_id WHERE t.name = '{uniq}' ORDER BY 1")
    assert rows == [["192.0.2.0/24"], ["198.51.100.7/32"], ["2001:db8::/32"]]
    fails(mailctl("network", "add", uniq, "192.0.2.0/24"), 1, "already")
    for bad in ("192.0.2.1/24", "10.0.0.0/33", "10.0.0", "10.0.0.0/", "example.com",
                "2001:db8::1/32", "10.0.0.0/8/8", "", "::/129"):
        fails(mailctl("network", "add", uniq, bad), 2, "bad network")
    fails(mailctl("network", "add", "no-such-" + uniq, "10.0.0.0/8"), 1, "does not exist")
    fails(mailctl("network", "list", "no-such-" + uniq), 1, "does not exist")
    fails(mailctl("network", "add", uniq), 2)
    ok(mailctl("network", "remove", uniq, "198.51.100.7/32"))
    ok(mailctl("network", "remove", uniq, "2001:db8::/32"))
    assert ok(mailctl("network", "list", uniq)).stdout == "192.0.2.0/24\n"
    fails(mailctl("network", "remove", uniq, "2001:db8::/32"), 1, "no network")
    fails(mailctl("network", "remove", uniq, "2001:db8::1/32"), 2)


def test_alias_list_and_remove(mailctl, stack, uniq):
    dom = new_domain(mailctl, uniq)
    ok(mailctl("user", "add", f"jo@{dom}", "--password", "x"))
    ok(mailctl("alias", "add", f"sales@{dom}", f"jo@{dom}", "Out@Elsewhere.example"))
    ok(mailctl("alias", "add", f"info@{dom}", f"jo@{dom}"))
    r = ok(mailctl("alias", "list", dom.upper()))
    assert r.stdout.splitlines() == [f"info@{dom}\tjo@{dom}",
                                     f"sales@{dom}\tjo@{dom},Out@elsewhere.example"]
    ok(mailctl("alias", "remove", f"SALES@{dom}"))
    assert ok(mailctl("alias", "list", dom)).stdout == f"info@{dom}\tjo@{dom}\n"
    assert stack.psql("SELECT count(*) FROM aliases a JOIN domains d ON d.id = "
                      f"a.domain_id WHERE d.name = '{dom}'") == [["1"]]
    fails(mailctl("alias", "remove", f"sales@{dom}"), 1, f"alias sales@{dom} does not exist")
    fails(mailctl("alias", "remove", f"jo@{dom}"), 1, "does not exist")
    fails(mailctl("alias", "list", f"none-{uniq}.example"), 1, "does not exist")
    fails(mailctl("alias", "remove", "bad address"), 2)
    # The name is free again, for a user too.
    ok(mailctl("user", "add", f"sales@{dom}", "--password", "x"))


def test_every_change_bumps_the_directory_generation(mailctl, stack, uniq):
    dom = f"{uniq}.example"
    changes = [
        ["tenant", "add", uniq],
        ["domain", "add", dom, "--tenant", uniq],
        ["domain", "alias", f"old-{uniq}.example", dom],
        ["domain", "set", dom, "--quota", "1G"],
        ["user", "add", f"kim@{dom}", "--password", "x"],
        ["user", "passwd", f"kim@{dom}", "--password", "y"],
        ["user", "set", f"kim@{dom}", "--forward", "kim@elsewhere.example"],
        ["alias", "add", f"team@{dom}", f"kim@{dom}"],
        ["alias", "remove", f"team@{dom}"],
        ["sendas", "add", f"kim@{dom}", f"@{dom}"],
        ["sendas", "remove", f"kim@{dom}", f"@{dom}"],
        ["network", "add", uniq, "203.0.113.0/24"],
        ["network", "remove", uniq, "203.0.113.0/24"],
    ]
    for args in changes:
        before = generation(stack)
        ok(mailctl(*args))
        assert generation(stack) > before, args
    before = generation(stack)
    fails(mailctl("domain", "set", dom, "--status", "bogus"), 2)
    fails(mailctl("alias", "remove", f"team@{dom}"), 1)
    ok(mailctl("domain", "show", dom))
    assert generation(stack) == before


def test_redis_down_warns_and_still_succeeds(mailctl, stack, uniq):
    dead = str(ports.free_port())
    r = mailctl("tenant", "add", uniq, env={"MAILCORE_REDIS_PORT": dead})
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("mailctl: warning: directory cache not invalidated: ")
    assert lines[0].endswith("; cached lookups expire within [directory] cache_ttl")
    assert stack.psql(f"SELECT count(*) FROM tenants WHERE name = '{uniq}'") == [["1"]]
    r = mailctl("network", "add", uniq, "10.1.0.0/16", env={"MAILCORE_REDIS_PORT": dead})
    assert r.returncode == 0 and r.stderr.count("warning") == 1, r.stderr
    assert ok(mailctl("network", "list", uniq)).stdout == "10.1.0.0/16\n"


def test_help_lists_the_new_commands(mailctl):
    out = ok(mailctl("-h")).stdout
    for cmd in ("domain alias ALIAS DOMAIN", "domain set DOMAIN", "domain show DOMAIN",
                "domain list", "user set ADDRESS", "user show ADDRESS",
                "sendas add USER", "sendas remove USER", "network add TENANT CIDR",
                "network remove TENANT CIDR", "network list TENANT",
                "alias remove ADDRESS", "alias list DOMAIN"):
        assert cmd in out, cmd


def test_user_protocols_and_imap_backend(mailctl, stack, uniq):
    dom = new_domain(mailctl, uniq)
    addr = f"hal@{dom}"
    ok(mailctl("user", "add", addr, "--password", "x"))
    ok(mailctl("user", "set", addr, "--protocols", "imap,smtp",
               "--imap-backend", "127.0.0.1:10993"))
    u = show(mailctl, "user", addr, USER_KEYS)
    assert (u["protocols"], u["imap_backend"]) == ("imap,smtp", "127.0.0.1:10993")
    ok(mailctl("user", "set", addr, "--protocols", "none", "--imap-backend", "none"))
    u = show(mailctl, "user", addr, USER_KEYS)
    assert (u["protocols"], u["imap_backend"]) == ("none", "-")
    for bad in (["--protocols", "imap,ftp"], ["--imap-backend", "host.example:993"]):
        r = mailctl("user", "set", addr, *bad)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
