"""mailctl spam learn and stats: message files learned as spam or ham for a
tenant (by name or id; each file once, by its SHA-256; re-learned the other
way it moves between the counts), the tenant's and the global totals as
stats prints them, and the refused usages."""
import hashlib
import re

from smtp_helpers import Tenant, ok

SPAM = (b"From: Prize Desk <win@prizes.example.net>\r\n"
        b"To: <someone@example.org>\r\nSubject: You won a casino bonus\r\n"
        b"\r\nClaim your casino bonus prize now at "
        b"http://prizes.example.net/claim before midnight\r\n")
HAM = (b"From: Carol <carol@example.org>\r\nTo: <someone@example.org>\r\n"
       b"Subject: Minutes of the project meeting\r\n\r\n"
       b"Attached are the minutes of Tuesday's project meeting.\r\n")


def files(tmp_path):
    paths = {}
    for name, data in (("spam1", SPAM), ("spam2", SPAM.replace(b"midnight", b"noon")),
                       ("ham1", HAM)):
        p = tmp_path / f"{name}.eml"
        p.write_bytes(data)
        paths[name] = str(p)
    return paths


def totals(stack, tenant_id):
    got = stack.psql("SELECT spam_messages, ham_messages FROM bayes_totals "
                     f"WHERE tenant_id = {tenant_id}")
    return (int(got[0][0]), int(got[0][1])) if got else (0, 0)


def tokens(stack, tenant_id):
    return int(stack.psql("SELECT count(*) FROM bayes_tokens WHERE tenant_id = "
                          f"{tenant_id} AND spam + ham > 0")[0][0])


def stats_line(out, label):
    m = re.search(rf"^{label}: (\d+) spam, (\d+) ham messages, (\d+) tokens$",
                  out, re.M)
    assert m, out
    return tuple(map(int, m.groups()))


def test_learn_and_stats(stack, mailctl, uniq, tmp_path):
    t = Tenant(stack, mailctl, uniq)
    f = files(tmp_path)
    g0 = totals(stack, 0)
    r = ok(mailctl("spam", "learn", "--tenant", t.name, "--spam", f["spam1"], f["spam2"]))
    assert r.stdout.splitlines() == [f"{f['spam1']}: learned as spam",
                                     f"{f['spam2']}: learned as spam"]
    ok(mailctl("spam", "learn", "--ham", "--tenant", str(t.id), f["ham1"]))
    assert totals(stack, t.id) == (2, 1)
    sha = hashlib.sha256(SPAM).hexdigest()
    assert stack.psql("SELECT learned_as FROM bayes_learned WHERE tenant_id = "
                      f"{t.id} AND sha256 = '{sha}'") == [["spam"]]
    # the same file again counts once
    r = ok(mailctl("spam", "learn", "--tenant", t.name, "--spam", f["spam1"]))
    assert r.stdout == f"{f['spam1']}: already learned as spam\n"
    assert totals(stack, t.id) == (2, 1)
    g1 = totals(stack, 0)
    assert (g1[0] - g0[0], g1[1] - g0[1]) == (2, 1)
    # stats: the tenant's table and the global one
    out = ok(mailctl("spam", "stats", "--tenant", t.name)).stdout
    assert stats_line(out, f"tenant {t.name}") == (2, 1, tokens(stack, t.id))
    assert stats_line(out, "global")[:2] == g1
    assert len(out.splitlines()) == 2
    out = ok(mailctl("spam", "stats")).stdout
    assert len(out.splitlines()) == 1 and stats_line(out, "global")[:2] == g1
    assert stats_line(ok(mailctl("spam", "stats", "--global")).stdout, "global")[:2] == g1
    # learned the other way: the counts move
    r = ok(mailctl("spam", "learn", "--tenant", t.name, "--ham", f["spam1"]))
    assert r.stdout == f"{f['spam1']}: learned as ham\n"
    assert totals(stack, t.id) == (1, 2)
    assert stats_line(ok(mailctl("spam", "stats", "--tenant", t.name)).stdout,
                      f"tenant {t.name}")[:2] == (1, 2)


def test_refused(stack, mailctl, uniq, tmp_path):
    t = Tenant(stack, mailctl, uniq)
    f = files(tmp_path)
    for args, code in ((("--tenant", t.name, f["spam1"]), 2),          # no kind
                       (("--tenant", t.name, "--spam"), 2),            # no file
                       (("--spam", f["spam1"]), 2),                    # no tenant
                       (("--tenant", t.name, "--spam", "--ham", f["spam1"]), 2),
                       (("--global", "--spam", f["spam1"]), 2),
                       (("--tenant", "0", "--spam", f["spam1"]), 2),
                       (("--tenant", uniq + "x", "--spam", f["spam1"]), 1),
                       (("--tenant", t.name, "--spam", str(tmp_path / "none")), 1)):
        r = mailctl("spam", "learn", *args)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert r.stderr.startswith("mailctl: "), r.stderr
    assert totals(stack, t.id) == (0, 0)
    assert mailctl("spam", "stats", "--spam").returncode == 2
    assert mailctl("spam", "stats", "--tenant", uniq + "x").returncode == 1
    # a missing file does not stop the others
    r = mailctl("spam", "learn", "--tenant", t.name, "--spam",
                str(tmp_path / "none"), f["spam1"])
    assert r.returncode == 1 and r.stdout == f"{f['spam1']}: learned as spam\n"
    assert totals(stack, t.id) == (1, 0)


def test_report_addresses_train_the_classifier(stack, mailctl, daemon, uniq):
    """An authenticated user forwards a message as an attachment to
    spam-report@ its domain: the attached message is learned as spam for
    the tenant (and stored nowhere); ham-report@ learns it back as ham;
    an outsider's mail to the address is an unknown recipient."""
    import hashlib
    from smtp_helpers import Tenant, connect, login, start_smtpd, wait_until
    t = Tenant(stack, mailctl, uniq)
    ann = t.user("ann")
    start_smtpd(daemon)
    inner = (b"From: <spammer@elsewhere.example>\r\nTo: <" + ann.encode() + b">\r\n"
             b"Subject: cheap pills\r\n\r\nbuy cheappills today\r\n")
    outer = (b"From: <" + ann.encode() + b">\r\nSubject: spam\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
             b"Content-Type: text/plain\r\n\r\nthis is spam\r\n--B\r\n"
             b"Content-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--B--\r\n")
    sha = hashlib.sha256(inner).hexdigest()

    def report(to):
        s = connect(stack, "submission")
        try:
            assert login(s, ann, t.passwords[ann])[0] == 235
            assert s.mail(ann)[0] == 250
            code, text = s.rcpt(to)
            assert code == 250, text
            assert s.data(outer)[0] == 250
        finally:
            s.close()

    def learned():
        rows = stack.psql(f"SELECT learned_as FROM bayes_learned WHERE tenant_id = {t.id} "
                          f"AND sha256 = '{sha}'")
        return rows[0][0] if rows else None
    report(f"spam-report@{t.domain}")
    assert wait_until(lambda: learned() == "spam", 5), stack.psql(
        f"SELECT sha256, learned_as FROM bayes_learned WHERE tenant_id = {t.id}")
    report(f"ham-report@{t.domain}")
    assert wait_until(lambda: learned() == "ham", 5)
    assert stack.psql(f"SELECT count(*) FROM mailbox_messages WHERE tenant_id = {t.id}") \
        == [["0"]]
    s = connect(stack)
    try:
        assert s.mail("x@elsewhere.example")[0] == 250
        assert s.rcpt(f"spam-report@{t.domain}")[0] == 550
    finally:
        s.close()
