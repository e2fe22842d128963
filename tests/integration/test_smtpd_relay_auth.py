"""mc-smtpd relay rules and submission: no open relay on the MX port,
relaying for a tenant's own networks (only as that tenant's domains) and
for [smtpd] relay_networks; submission and submissions with AUTH
(STARTTLS first unless the client is in plaintext_auth_networks), the
1 s-delayed 535 for bad credentials, and the envelope senders an
authenticated user may use (own address, domain aliases, send-as grants).
Remote recipients land in the outbound queue with the sending tenant,
client address and authenticated user."""
import re
import time

from smtp_helpers import smtpd_exits_cleanly  # noqa: F401 (autouse fixture)
from smtp_helpers import (HELO, Tenant, connect, count, login, mailbox, message,
                          ok, queue_id, queued, start_smtpd, stored, swaks,
                          tls_context, transaction)

SENDER = "sender@example.org"
RELAY_DENIED = b": Relay access denied"


def denied(s, rcpt):
    assert s.rcpt(rcpt) == (554, b"5.7.1 <" + rcpt.encode() + b">" + RELAY_DENIED)


def test_mx_is_no_open_relay(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    ext = f"ext-{uniq}@elsewhere.example"
    start_smtpd(daemon)
    s = connect(stack)
    for sender in (SENDER, alice):  # our own domain as sender proves nothing
        assert s.mail(sender)[0] == 250
        denied(s, ext)
        assert s.docmd("DATA") == (554, b"5.5.1 No valid recipients")
        assert s.rset()[0] == 250
    s.quit()
    assert queued(stack, ext) == []
    assert count(stack, f"SELECT count(*) FROM queue WHERE tenant_id = {t.id}") == 0


def test_tenant_network_relays_for_its_own_domains_only(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    other = Tenant(stack, mailctl, "o" + uniq)
    bob = other.user("bob")
    ok(mailctl("network", "add", t.name, "127.0.0.2/32"))
    ext = f"ext-{uniq}@elsewhere.example"
    start_smtpd(daemon)

    s = connect(stack, source="127.0.0.2")
    data = message(uniq)
    code, text = transaction(s, alice, [ext], data)
    assert code == 250, text
    for sender in (bob, SENDER):
        assert s.mail(sender)[0] == 250
        denied(s, f"ext2-{uniq}@elsewhere.example")
        assert s.rset()[0] == 250
    s.quit()
    [q] = queued(stack, ext)
    assert (q["tenant_id"], q["queue_id"], q["sender"], q["client_ip"], q["auth_user"],
            q["state"], q["rcpt_state"], q["refcount"]) == (
        t.id, queue_id(text), alice, "127.0.0.2", "", "queued", "queued", 1)
    body = stored(stack, {"sha256": q["sha256"], "size": q["size"], "msg_size": q["size"]},
                  data)
    assert body.startswith(f"Received: from {HELO} ([127.0.0.2])\r\n".encode())
    assert queued(stack, f"ext2-{uniq}@elsewhere.example") == []

    s = connect(stack)  # the same sender from another address
    assert s.mail(alice)[0] == 250
    denied(s, ext)
    s.quit()
    assert len(queued(stack, ext)) == 1


def test_relay_networks_setting_relays_any_sender(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon, MAILCORE_SMTPD_RELAY_NETWORKS="127.0.0.3/32")
    ext1, ext2 = (f"ext{i}-{uniq}@elsewhere.example" for i in (1, 2))
    s = connect(stack, source="127.0.0.3")
    assert transaction(s, SENDER, [ext1], message(uniq))[0] == 250
    assert transaction(s, alice, [ext2], message(uniq + "-2"))[0] == 250
    s.quit()
    [q1], [q2] = queued(stack, ext1), queued(stack, ext2)
    assert (q1["tenant_id"], q1["client_ip"], q1["rcpt_state"]) == (0, "127.0.0.3", "queued")
    assert (q2["tenant_id"], q2["sender"]) == (t.id, alice)  # the sender's tenant
    s = connect(stack, source="127.0.0.4")
    assert s.mail(SENDER)[0] == 250
    denied(s, ext1)
    s.quit()


# -- submission ---------------------------------------------------------------

def test_submission_without_auth_is_530(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    s = connect(stack, "submission")
    assert s.mail(alice) == (530, b"5.7.0 Authentication required")
    assert s.rcpt(alice)[0] == 503
    s.quit()


def received_auth(user, tls_version, cipher):
    return (rb"Received: from " + HELO.encode() + rb" \(\[127\.0\.0\.1\]\)\r\n"
            rb"\t\(using " + re.escape(tls_version.encode()) + rb" with cipher " +
            re.escape(cipher.encode()) + rb"\)\r\n"
            rb"\t\(Authenticated sender: " + re.escape(user.encode()) + rb"\)\r\n"
            rb"\tby mail\.demo\.test \(mailcore\) with ESMTPSA id (\w+)")


def submit_and_check(stack, s, t, alice, bob, uniq):
    """alice sends to bob and an external address; checks rows and header."""
    ext = f"ext-{uniq}@elsewhere.example"
    assert login(s, alice, t.passwords[alice]) == (235, b"2.7.0 Authentication successful")
    data = message(uniq)
    code, text = transaction(s, alice, [ext, bob], data)
    assert code == 250, text
    [q] = queued(stack, ext)
    assert (q["tenant_id"], q["sender"], q["auth_user"], q["client_ip"], q["rcpt_state"]) \
        == (t.id, alice, alice, "127.0.0.1", "queued")
    [row] = mailbox(stack, bob)
    assert row["msg_id"] == q["msg_id"] and row["refcount"] == 2
    version, cipher = s.sock.version(), s.sock.cipher()[0]
    m = re.match(received_auth(alice, version, cipher), stored(stack, row, data))
    assert m and m.group(1) == queue_id(text).encode()


def test_submission_starttls_then_auth(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    start_smtpd(daemon)
    s = connect(stack, "submission")
    assert "starttls" in s.esmtp_features
    assert "auth" in s.esmtp_features  # loopback: plaintext_auth_networks
    s.starttls(context=tls_context(stack, check_hostname=False))
    s.ehlo()
    assert "starttls" not in s.esmtp_features
    assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
    submit_and_check(stack, s, t, alice, bob, uniq)
    s.close()


def test_submissions_implicit_tls_auth(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    start_smtpd(daemon)
    s = connect(stack, "submissions")
    assert "starttls" not in s.esmtp_features
    submit_and_check(stack, s, t, alice, bob, uniq)
    s.quit()


def swaks_auth(stack, t, user, rcpt, tls_args, port):
    return swaks(stack, *tls_args, "--tls-verify", "--tls-ca-path", stack.ca,
                 "--tls-sni", "localhost", "--auth", "PLAIN", "--auth-user", user,
                 "--auth-password", t.passwords[user], "--from", user, "--to", rcpt,
                 "--data", f"Subject: swaks\\n\\nvia {port}", port=port)


def test_submissions_auth_with_swaks(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    start_smtpd(daemon)
    r = swaks_auth(stack, t, alice, bob, ["--tlsc"], "submissions")
    out = r.stdout + r.stderr
    assert "<~  235 2.7.0 Authentication successful" in out, out
    assert re.search(r"<~  250 2\.0\.0 OK: queued as \w+", out), out
    [row] = mailbox(stack, bob)
    assert b"(Authenticated sender: " + alice.encode() + b")" in stored(
        stack, row, b"\r\n\r\nvia submissions\r\n")
    assert r.returncode == 0, out


def test_submission_starttls_auth_with_swaks(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    start_smtpd(daemon)
    r = swaks_auth(stack, t, alice, bob, ["--tls"], "submission")
    out = r.stdout + r.stderr
    assert "<-  220 2.0.0 Ready to start TLS" in out, out
    assert "<~  235 2.7.0 Authentication successful" in out, out
    assert re.search(r"<~  250 2\.0\.0 OK: queued as \w+", out), out
    [row] = mailbox(stack, bob)
    stored(stack, row, b"\r\n\r\nvia submission\r\n")
    # swaks ends with QUIT and wants its 221 over TLS too
    assert "<~  221 2.0.0 " in out, out
    assert r.returncode == 0, out


def test_wrong_password_is_535_after_a_pause(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon)
    s = connect(stack, "submissions")
    started = time.monotonic()
    assert login(s, alice, "wrong") == (535, b"5.7.8 Authentication credentials invalid")
    assert time.monotonic() - started >= 0.9
    assert s.mail(alice)[0] == 530
    s.user, s.password = alice, t.passwords[alice]
    assert s.auth("LOGIN", s.auth_login, initial_response_ok=False)[0] == 235
    assert s.mail(alice)[0] == 250
    s.quit()


def test_auth_before_starttls_is_refused_outside_plaintext_networks(
        stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice = t.user("alice")
    start_smtpd(daemon, MAILCORE_SMTPD_PLAINTEXT_AUTH_NETWORKS="")
    s = connect(stack, "submission")
    assert "auth" not in s.esmtp_features and "starttls" in s.esmtp_features
    assert login(s, alice, t.passwords[alice]) == (
        538, b"5.7.11 Encryption required for requested authentication mechanism")
    assert s.mail(alice)[0] == 530
    s.close()
    s = connect(stack, "submission", starttls=True)
    assert "auth" in s.esmtp_features
    assert login(s, alice, t.passwords[alice])[0] == 235
    assert s.mail(alice)[0] == 250
    s.close()


def test_envelope_senders_of_an_authenticated_user(stack, mailctl, daemon, uniq):
    t = Tenant(stack, mailctl, uniq)
    alice, bob = t.user("alice"), t.user("bob")
    alias_dom = f"old-{uniq}.example"
    ok(mailctl("domain", "alias", alias_dom, t.domain))
    start_smtpd(daemon)
    s = connect(stack, "submissions")
    assert login(s, alice, t.passwords[alice])[0] == 235
    refused = (553, b"5.7.1 Sender address rejected: not owned by the authenticated user")
    assert s.mail(bob) == refused
    assert s.mail(f"someone-{uniq}@elsewhere.example") == refused
    ok(mailctl("sendas", "add", alice, bob))
    for sender in (bob, f"alice@{alias_dom}", "", alice):
        assert s.mail(sender)[0] == 250, sender
        assert s.rset()[0] == 250
    ext = f"ext-{uniq}@elsewhere.example"
    assert transaction(s, bob, [ext], message(uniq))[0] == 250
    s.quit()
    [q] = queued(stack, ext)
    assert (q["sender"], q["auth_user"], q["tenant_id"]) == (bob, alice, t.id)
