"""mc-imapd in proxy mode: two processes, one proxying to the other. A
user with an IMAP backend logs in at the proxy and is relayed (over TLS,
verified against the dev CA) to the backend, which serves the session;
a user without one is served by the proxy itself; an unreachable backend
is NO [UNAVAILABLE]."""
import imaplib

import pytest

import ports
from imap_helpers import deliver, imap, start_imapd  # noqa: F401
from imap_helpers import imapd_exits_cleanly  # noqa: F401 (autouse)
from smtp_helpers import Tenant


@pytest.fixture
def two_nodes(stack, mailctl, daemon, uniq):
    """A backend mc-imapd on ports of its own and a proxy on the usual."""
    t = Tenant(stack, mailctl, uniq)
    t.alice, t.bob = t.user("alice"), t.user("bob")
    daemon("mc-smtpd")
    plain, tls = ports.free_port(), ports.free_port()
    t.backend = start_imapd(daemon, MAILCORE_IMAPD_LISTEN=f"127.0.0.1:{plain}",
                            MAILCORE_IMAPD_LISTEN_TLS=f"127.0.0.1:{tls}")
    t.proxy = start_imapd(daemon, MAILCORE_IMAPD_PROXY="yes",
                          MAILCORE_IMAPD_PROXY_CA=stack.ca)
    t.backend_port = tls  # proxy_tls is on by default
    return t


def test_proxied_session_is_served_by_the_backend(two_nodes, stack, mailctl):
    t = two_nodes
    assert mailctl("user", "set", t.alice, "--imap-backend",
                   f"127.0.0.1:{t.backend_port}").returncode == 0
    deliver(stack, t.alice, "through the proxy")
    c = imap(stack, t, t.alice)
    typ, data = c.select("INBOX")
    assert (typ, data) == ("OK", [b"1"])
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and b"through the proxy" in data[0][1]
    assert c.create("Made-via-proxy")[0] == "OK"
    c.logout()
    assert "proxied to its backend" in t.proxy.output()
    assert "proxied for client 127.0.0.1" in t.backend.output()
    assert t.backend.output().count(f"user={t.alice}: logged in") == 1
    assert f"user={t.alice}: logged in" not in t.proxy.output()


def test_user_without_backend_is_served_by_the_proxy(two_nodes, stack):
    t = two_nodes
    c = imap(stack, t, t.bob)
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    assert f"user={t.bob}: logged in" in t.proxy.output()


def test_wrong_password_is_refused_at_the_proxy(two_nodes, stack, mailctl):
    t = two_nodes
    mailctl("user", "set", t.alice, "--imap-backend", f"127.0.0.1:{t.backend_port}")
    c = imaplib.IMAP4("127.0.0.1", stack.port("imap"), timeout=15)
    with pytest.raises(imaplib.IMAP4.error):
        c.login(t.alice, "wrong")
    c.logout()
    assert "logged in" not in t.backend.output()


def test_unreachable_backend_is_unavailable(two_nodes, stack, mailctl):
    t = two_nodes
    mailctl("user", "set", t.alice, "--imap-backend", f"127.0.0.1:{ports.free_port()}")
    c = imaplib.IMAP4("127.0.0.1", stack.port("imap"), timeout=15)
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login(t.alice, t.passwords[t.alice])
    assert "UNAVAILABLE" in str(e.value)
    mailctl("user", "set", t.alice, "--imap-backend", "none")
    assert c.login(t.alice, t.passwords[t.alice])[0] == "OK"
    c.logout()
