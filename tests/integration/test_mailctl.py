"""mailctl against the real PostgreSQL: migrations, tenants, domains,
users and aliases, with the exit codes an operator scripts against:
0 done, 1 failed (duplicate, not found), 2 bad arguments, 75 try later."""
import crypt


def test_migrate_twice_applies_nothing_new(mailctl, stack):
    out = mailctl("db", "migrate")
    assert out.returncode == 0, out.stderr
    assert "0 applied" in out.stdout
    rows = stack.psql("SELECT version, name FROM schema_migrations ORDER BY 1")
    assert rows[0] == ["1", "0001_tenancy"]


def test_tenant_domain_user_lifecycle(mailctl, stack, uniq):
    dom = f"{uniq}.example"
    assert mailctl("tenant", "add", uniq).returncode == 0
    r = mailctl("domain", "add", dom.upper(), "--tenant", uniq)
    assert r.returncode == 0, r.stderr
    r = mailctl("user", "add", f"Alice@{dom}", "--password", "s3cret-A")
    assert r.returncode == 0, r.stderr
    r = mailctl("user", "add", f"bob@{dom}", "--password-stdin", input="pw-of-bob\n")
    assert r.returncode == 0, r.stderr
    r = mailctl("user", "list", dom)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["ADDRESS", "STATUS", "QUOTA"]
    assert [l.split()[0] for l in lines[1:]] == [f"alice@{dom}", f"bob@{dom}"]
    assert lines[1].split()[1] == "active"


def hash_of(stack, local, domain):
    rows = stack.psql("SELECT u.password_hash FROM users u JOIN domains d "
                      f"ON d.id = u.domain_id WHERE d.name = '{domain}' "
                      f"AND u.local_part = '{local}'")
    return rows[0][0]


def test_passwords_are_stored_as_yescrypt_hashes(mailctl, stack, uniq):
    dom = f"{uniq}.example"
    mailctl("tenant", "add", uniq)
    mailctl("domain", "add", dom, "--tenant", uniq)
    assert mailctl("user", "add", f"carol@{dom}", "--password", "first pw").returncode == 0
    h1 = hash_of(stack, "carol", dom)
    assert h1.startswith("$y$") and "first pw" not in h1
    assert crypt.crypt("first pw", h1) == h1
    assert crypt.crypt("other", h1) != h1
    r = mailctl("user", "passwd", f"carol@{dom}", "--password-stdin", input="second pw\n")
    assert r.returncode == 0, r.stderr
    h2 = hash_of(stack, "carol", dom)
    assert h2 != h1 and crypt.crypt("second pw", h2) == h2


def test_duplicates_fail_with_exit_1(mailctl, uniq):
    dom = f"{uniq}.example"
    assert mailctl("tenant", "add", uniq).returncode == 0
    r = mailctl("tenant", "add", uniq)
    assert (r.returncode, r.stderr.strip()) == (1, f"mailctl: tenant {uniq} already exists")
    mailctl("domain", "add", dom, "--tenant", uniq)
    r = mailctl("domain", "add", dom, "--tenant", uniq)
    assert (r.returncode, r.stderr.strip()) == (1, f"mailctl: domain {dom} already exists")
    mailctl("user", "add", f"dave@{dom}", "--password", "x")
    r = mailctl("user", "add", f"DAVE@{dom}", "--password", "y")
    assert r.returncode == 1 and f"user dave@{dom} already exists" in r.stderr


def test_missing_parents_fail_with_exit_1(mailctl, uniq):
    r = mailctl("domain", "add", f"{uniq}.example", "--tenant", "no-such-" + uniq)
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = mailctl("user", "add", f"x@{uniq}.example", "--password", "x")
    assert (r.returncode, r.stderr.strip()) == (
        1, f"mailctl: domain {uniq}.example does not exist")
    r = mailctl("user", "passwd", f"x@{uniq}.example", "--password", "x")
    assert r.returncode == 1
    r = mailctl("user", "list", f"{uniq}.example")
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_bad_arguments_fail_with_exit_2_and_one_line(mailctl, uniq):
    cases = [
        [],
        ["frobnicate"],
        ["tenant", "add"],
        ["tenant", "add", "Bad Name"],
        ["domain", "add", "example.com"],
        ["domain", "add", "not_a_domain", "--tenant", "x"],
        ["domain", "add", "-bad-.example", "--tenant", "x"],
        ["user", "add", "alice@demo.test"],
        ["user", "add", "no-at-sign", "--password", "x"],
        ["user", "add", "bad+local@demo.test", "--password", "x"],
        ["user", "add", "a@demo.test", "--password", "x", "--password-stdin"],
        ["user", "list"],
        ["alias", "add", "only@demo.test"],
        ["alias", "add", "al@demo.test", "not an address"],
    ]
    for args in cases:
        r = mailctl(*args, input="")
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert r.stderr.count("\n") <= 1 or args == [], (args, r.stderr)
        assert r.stderr.strip(), args


def test_aliases_and_address_collisions(mailctl, stack, uniq):
    dom = f"{uniq}.example"
    mailctl("tenant", "add", uniq)
    mailctl("domain", "add", dom, "--tenant", uniq)
    mailctl("user", "add", f"erin@{dom}", "--password", "x")
    r = mailctl("alias", "add", f"sales@{dom}", f"erin@{dom}", "Partner@Elsewhere.example")
    assert r.returncode == 0, r.stderr
    rows = stack.psql("SELECT a.targets FROM aliases a JOIN domains d ON d.id = "
                      f"a.domain_id WHERE d.name = '{dom}' AND a.local_part = 'sales'")
    assert rows == [[f'{{erin@{dom},Partner@elsewhere.example}}']]
    r = mailctl("alias", "add", f"erin@{dom}", f"x@{dom}")
    assert (r.returncode, r.stderr.strip()) == (1, f"mailctl: user erin@{dom} already exists")
    r = mailctl("user", "add", f"sales@{dom}", "--password", "x")
    assert (r.returncode, r.stderr.strip()) == (1, f"mailctl: alias sales@{dom} already exists")
    r = mailctl("alias", "add", f"loop@{dom}", f"loop@{dom}")
    assert r.returncode == 2 and "cannot target itself" in r.stderr


def test_database_down_is_a_temporary_failure(mailctl, uniq):
    import ports
    dead = ports.free_port()
    r = mailctl("tenant", "add", uniq, env={
        "MAILCORE_DATABASE_CONNINFO": f"host=127.0.0.1 port={dead} dbname=x user=x "
                                      "password=hunter2 connect_timeout=2"})
    assert r.returncode == 75, r.stderr
    assert "database" in r.stderr and "hunter2" not in r.stderr


def test_broken_config_is_refused_with_file_line_and_key(mailctl, stack, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text(open(stack.conf).read() + "\n[server]\nworkerz = 3\n")
    r = mailctl("user", "list", "demo.test", config=str(conf))
    nlines = len(open(conf).read().splitlines())
    assert r.returncode == 2
    assert f'{conf}:{nlines}: unknown key "workerz" in section [server]' in r.stderr
