"""What every daemon does at login beyond the password: the per-user
protocol switches (mailctl user set --protocols) and the temporary block
after repeated failures, counted in Redis per account and per client IP
across IMAP, POP3 and SMTP."""
import base64
import imaplib
import poplib
import smtplib

import pytest

from imap_helpers import imapd_exits_cleanly, start_imapd  # noqa: F401
from smtp_helpers import Resp, Tenant


def imap_login(stack, user, password):
    c = imaplib.IMAP4("127.0.0.1", stack.port("imap"), timeout=15)
    try:
        return c.login(user, password)[0], ""
    except imaplib.IMAP4.error as e:
        return "NO", str(e)
    finally:
        c.shutdown()


def pop3_login(stack, user, password):
    c = poplib.POP3("127.0.0.1", stack.port("pop3"), timeout=15)
    try:
        c.user(user)
        return c.pass_(password).decode()
    except poplib.error_proto as e:
        return str(e)
    finally:
        c.close()


def smtp_auth(stack, user, password):
    with smtplib.SMTP("127.0.0.1", stack.port("submission"), timeout=15) as s:
        s.ehlo("client.example")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return s.docmd("AUTH", "PLAIN " + token)


@pytest.fixture
def users(stack, mailctl, uniq):
    t = Tenant(stack, mailctl, uniq)
    t.alice, t.bob = t.user("alice"), t.user("bob")
    r = Resp(stack)  # failure counters of earlier tests
    r.cmd("EVAL", "for _, k in ipairs(redis.call('KEYS', 'mc:lf:*')) do "
          "redis.call('DEL', k) end return 0", "0")
    r.close()
    return t


def test_protocol_switches(users, stack, mailctl, daemon):
    start_imapd(daemon)
    daemon("mc-pop3d")
    daemon("mc-smtpd")
    t = users
    assert mailctl("user", "set", t.alice, "--protocols", "smtp").returncode == 0
    typ, why = imap_login(stack, t.alice, t.passwords[t.alice])
    assert typ == "NO" and "AUTHORIZATIONFAILED" in why
    assert "SYS/PERM" in pop3_login(stack, t.alice, t.passwords[t.alice])
    assert smtp_auth(stack, t.alice, t.passwords[t.alice])[0] == 235
    mailctl("user", "set", t.alice, "--protocols", "imap,pop3")
    assert imap_login(stack, t.alice, t.passwords[t.alice])[0] == "OK"
    assert pop3_login(stack, t.alice, t.passwords[t.alice]).startswith("+OK")
    code, text = smtp_auth(stack, t.alice, t.passwords[t.alice])
    assert (code, text[:5]) == (535, b"5.7.8")


def test_repeated_failures_block_the_account_everywhere(users, stack, daemon):
    limits = {"MAILCORE_AUTH_MAX_FAILURES_USER": "2"}
    start_imapd(daemon, **limits)
    daemon("mc-pop3d", env=limits)
    daemon("mc-smtpd", env=limits)
    t = users
    for _ in range(2):
        assert imap_login(stack, t.alice, "wrong")[0] == "NO"
    typ, why = imap_login(stack, t.alice, t.passwords[t.alice])
    assert typ == "NO" and "Too many failed logins" in why
    assert "SYS/TEMP" in pop3_login(stack, t.alice, t.passwords[t.alice])
    assert smtp_auth(stack, t.alice, t.passwords[t.alice])[0] == 454
    # another account is not touched
    assert imap_login(stack, t.bob, t.passwords[t.bob])[0] == "OK"
    # the block ends with the window (here: its Redis key goes)
    r = Resp(stack)
    r.cmd("DEL", f"mc:lf:u:{t.alice}")
    r.close()
    assert imap_login(stack, t.alice, t.passwords[t.alice])[0] == "OK"


def test_a_success_resets_the_account_count(users, stack, daemon):
    start_imapd(daemon, MAILCORE_AUTH_MAX_FAILURES_USER="2")
    t = users
    assert imap_login(stack, t.alice, "wrong")[0] == "NO"
    assert imap_login(stack, t.alice, t.passwords[t.alice])[0] == "OK"
    assert imap_login(stack, t.alice, "wrong")[0] == "NO"
    assert imap_login(stack, t.alice, t.passwords[t.alice])[0] == "OK"


def test_failures_from_one_ip_block_it(users, stack, daemon):
    start_imapd(daemon, MAILCORE_AUTH_MAX_FAILURES_IP="2",
                MAILCORE_AUTH_THROTTLE_EXEMPT_NETWORKS="")
    t = users
    assert imap_login(stack, t.alice, "wrong")[0] == "NO"
    assert imap_login(stack, t.bob, "wrong")[0] == "NO"
    typ, why = imap_login(stack, t.bob, t.passwords[t.bob])
    assert typ == "NO" and "Too many failed logins" in why
