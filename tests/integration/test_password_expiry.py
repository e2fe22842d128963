"""The domain password policy's maximum age at login, on the real mc-imapd,
mc-pop3d and mc-smtpd: the right password past its age is refused with each
protocol's expired-credentials answer (IMAP NO [EXPIRED], POP3 -ERR [AUTH],
SMTP 535 5.7.8), a wrong one still gets the plain failure (expiry is never
told before the password is verified), the domain's exceptions and a domain
without a maximum age are not affected, and `mailctl user passwd` makes the
account work again."""
import base64
import imaplib
import poplib
import smtplib

import pytest

from imap_helpers import imapd_exits_cleanly, start_imapd  # noqa: F401
from smtp_helpers import (Resp, Tenant, ok, smtpd_exits_cleanly,  # noqa: F401
                          sql_str, start_smtpd)

EXPIRED_TEXT = "Password expired: change it in webmail or ask your administrator"


def imap_login(stack, user, password):
    """("OK", "") or ("NO", the server's text)."""
    c = imaplib.IMAP4("127.0.0.1", stack.port("imap"), timeout=15)
    try:
        return c.login(user, password)[0], ""
    except imaplib.IMAP4.error as e:
        return "NO", str(e)
    finally:
        c.shutdown()


def pop3_login(stack, user, password):
    """The answer to PASS, "+OK ..." or "-ERR ..."."""
    c = poplib.POP3("127.0.0.1", stack.port("pop3"), timeout=15)
    try:
        c.user(user)
        return c.pass_(password).decode()
    except poplib.error_proto as e:
        return e.args[0].decode()
    finally:
        c.close()


def smtp_auth(stack, user, password):
    """(code, text) of AUTH PLAIN on the submission port."""
    with smtplib.SMTP("127.0.0.1", stack.port("submission"), timeout=15) as s:
        s.ehlo("client.example")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        code, text = s.docmd("AUTH", "PLAIN " + token)
        return code, text.decode()


def set_age(stack, address, days):
    """Makes address's password days old."""
    local, domain = address.split("@")
    stack.psql(f"UPDATE users u SET password_changed_at = now() - interval '{days} days' "
               f"FROM domains d WHERE d.id = u.domain_id AND d.name = {sql_str(domain)} "
               f"AND u.local_part = {sql_str(local)}")


@pytest.fixture
def world(stack, mailctl, uniq):
    """A domain whose passwords expire after 30 days (svc excepted) with
    alice's 40 days old, bob's fresh and svc's 400 days old; a second
    domain without a maximum age where carol's is 400 days old."""
    t = Tenant(stack, mailctl, uniq)
    t.alice, t.bob, t.svc = t.user("alice"), t.user("bob"), t.user("svc")
    stack.psql("UPDATE domains SET pw_max_age_days = 30, pw_exceptions = '{svc}' "
               f"WHERE name = {sql_str(t.domain)}")
    t.other = f"other-{uniq}.example"
    ok(mailctl("domain", "add", t.other, "--tenant", uniq))
    t.carol = f"carol@{t.other}"
    t.passwords[t.carol] = f"pw-carol-{uniq}"
    ok(mailctl("user", "add", t.carol, "--password", t.passwords[t.carol]))
    set_age(stack, t.alice, 40)
    set_age(stack, t.svc, 400)
    set_age(stack, t.carol, 400)
    r = Resp(stack)  # failure counters of earlier tests
    r.cmd("EVAL", "for _, k in ipairs(redis.call('KEYS', 'mc:lf:*')) do "
          "redis.call('DEL', k) end return 0", "0")
    r.close()
    return t


@pytest.fixture
def daemons(daemon):
    """Starts mc-imapd, mc-pop3d and mc-smtpd (with MAILCORE_* settings).
    mc-imapd and mc-smtpd are checked by their helpers' fixtures; mc-pop3d
    here: it stops with status 0 and no sanitizer report."""
    pop3d = []

    def start(**env):
        start_imapd(daemon, **env)
        pop3d.append(daemon("mc-pop3d", env=env or None))
        start_smtpd(daemon, **env)
    yield start
    for d in pop3d:
        rc, out = d.stop(), d.output()
        assert "Sanitizer" not in out and "runtime error:" not in out, out[-5000:]
        assert rc == 0, (rc, out[-3000:])


def assert_expired(stack, user, password):
    typ, why = imap_login(stack, user, password)
    assert typ == "NO" and "[EXPIRED]" in why and EXPIRED_TEXT in why, why
    answer = pop3_login(stack, user, password)
    assert answer == "-ERR [AUTH] " + EXPIRED_TEXT, answer
    assert smtp_auth(stack, user, password) == (535, "5.7.8 " + EXPIRED_TEXT)


def assert_logs_in(stack, user, password):
    assert imap_login(stack, user, password) == ("OK", "")
    assert pop3_login(stack, user, password).startswith("+OK")
    assert smtp_auth(stack, user, password)[0] == 235


def test_expired_password_is_refused_everywhere(world, stack, daemons):
    daemons()
    assert_expired(stack, world.alice, world.passwords[world.alice])
    assert_logs_in(stack, world.bob, world.passwords[world.bob])


def test_a_wrong_password_never_tells_of_expiry(world, stack, daemons):
    daemons()
    typ, why = imap_login(stack, world.alice, "wrong")
    assert typ == "NO" and "[AUTHENTICATIONFAILED]" in why, why
    answer = pop3_login(stack, world.alice, "wrong")
    assert answer.startswith("-ERR [AUTH]") and "xpired" not in answer, answer
    code, text = smtp_auth(stack, world.alice, "wrong")
    assert code == 535 and text.startswith("5.7.8") and "xpired" not in text, text


def test_exceptions_and_no_maximum_age_log_in(world, stack, daemons):
    daemons()
    assert_logs_in(stack, world.svc, world.passwords[world.svc])
    assert_logs_in(stack, world.carol, world.passwords[world.carol])


def test_a_maximum_age_of_zero_turns_expiry_off(world, stack, daemons):
    daemons()
    stack.psql(f"UPDATE domains SET pw_max_age_days = 0 WHERE name = {sql_str(world.domain)}")
    assert_logs_in(stack, world.alice, world.passwords[world.alice])


def test_a_new_password_logs_in_again(world, stack, mailctl, daemons):
    daemons()
    assert_expired(stack, world.alice, world.passwords[world.alice])
    ok(mailctl("user", "passwd", world.alice, "--password", "a-new-password-1"))
    assert_logs_in(stack, world.alice, "a-new-password-1")
    changed = stack.psql("SELECT password_changed_at > now() - interval '1 minute' FROM "
                         f"users WHERE local_part = 'alice' AND domain_id = (SELECT id "
                         f"FROM domains WHERE name = {sql_str(world.domain)})")
    assert changed == [["t"]]


def test_expired_logins_are_not_counted_as_failures(world, stack, mailctl, daemons):
    daemons(MAILCORE_AUTH_MAX_FAILURES_USER="2")
    for _ in range(2):
        assert_expired(stack, world.alice, world.passwords[world.alice])
    ok(mailctl("user", "passwd", world.alice, "--password", "a-new-password-2"))
    assert_logs_in(stack, world.alice, "a-new-password-2")
