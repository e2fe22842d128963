"""mc-deliverd honours the relay routes and the per-tenant queue lifetime
that the provider sets with mailctl (`mailctl relay add|list|remove`,
`mailctl tenant set --queue-lifetime`): a recipient-domain route beats a
sender-domain one, a tenant's route carries only that tenant's mail, a
provider-wide route with AUTH and a priority order, and a tenant's
lifetime shorter than the server's bounces its mail early (4.4.7). The
test world (DNS, SMTP sinks on 127.0.0.x) is deliver_helpers.World."""
import json
import os
import time

import pytest

from deliver_helpers import (dsns, entry_gone, rcpts, report_fields,  # noqa: F401
                             unfold, world)
from smtp_helpers import Tenant, connect, login, ok, transaction, wait_until


@pytest.fixture
def routes(mailctl):
    """relay add through mailctl; every route made is removed at the end
    (a provider-wide route would otherwise catch other tests' mail)."""
    made = []

    def add(kind, *opts, password=None):
        args = ["relay", "add", kind, *opts]
        if password is not None:
            args.append("--password-stdin")
        r = ok(mailctl(*args, input=None if password is None else password + "\n"))
        route = json.loads(r.stdout)
        made.append(route["id"])
        return route
    yield add
    for rid in made:
        mailctl("relay", "remove", str(rid))


def submit_as(world, address, password, rcpts_, subject):
    """address (with password) submits one message on the submission port."""
    s = connect(world.stack, "submission")
    try:
        code, _ = login(s, address, password)
        assert code == 235
        data = (f"From: <{address}>\r\nTo: {', '.join(rcpts_)}\r\n"
                f"Subject: {subject}\r\nMessage-ID: <{subject}.{time.time()}@x>\r\n"
                f"\r\nHello.\r\n").encode()
        code, text = transaction(s, address, rcpts_, data)
        assert code == 250, text
        s.quit()
    finally:
        s.close()
    return text.decode().split()[-1]


def with_subject(sink, subject, timeout=15):
    """The message of sink carrying subject, once it has arrived."""
    def find():
        for m in list(sink.messages):
            if f"Subject: {subject}".encode() in m["data"]:
                return m
        return None
    m = wait_until(find, timeout)
    assert m, f"{subject} did not reach {sink.host}: {len(sink.messages)} others"
    return m


def test_recipient_domain_route_beats_sender_domain_route(world, routes, stack, uniq):
    w = world
    mx = w.sink()
    by_rcpt = w.sink(host="127.0.0.3")
    by_sender = w.sink(host="127.0.0.4")
    w.start_dns()
    port = str(w.port)
    # the sender-domain route is the tenant's own and has the better
    # priority; the provider-wide recipient-domain route still wins
    routes("sender_domain", "--tenant", w.tenant.name, "--match", w.tenant.domain,
           "--host", "127.0.0.4", "--port", port, "--priority", "-10")
    r = routes("recipient_domain", "--match", w.remote.upper(), "--host", "127.0.0.3",
               "--port", port, "--tls", "none", "--priority", "50")
    assert r["match"] == w.remote and r["tenant"] is None and r["tls"] == "none"
    w.deliverd()
    to = f"rita@{w.remote}"
    qid = w.submit([to], subject=f"rcpt-route-{uniq}")
    m = with_subject(by_rcpt, f"rcpt-route-{uniq}")
    assert rcpts(m) == [to] and m["mail_from"] == w.alice
    # mail from alice's domain to elsewhere takes the sender-domain route
    other = f"sam@o-{uniq}.test"
    w.submit([other], subject=f"sender-route-{uniq}")
    m = with_subject(by_sender, f"sender-route-{uniq}")
    assert rcpts(m) == [other]
    assert wait_until(lambda: entry_gone(stack, qid), 5)
    assert mx.messages == []
    assert not any(f"rcpt-route-{uniq}".encode() in x["data"] for x in by_sender.messages)


def test_tenant_route_carries_only_that_tenants_mail(world, routes, mailctl, stack, uniq):
    w = world
    mx = w.sink()
    smarthost = w.sink(host="127.0.0.3")
    w.start_dns()
    other = Tenant(stack, mailctl, uniq + "b")
    bob = other.user("bob")
    routes("tenant", "--tenant", w.tenant.name, "--host", "127.0.0.3",
           "--port", str(w.port))
    w.deliverd()
    w.submit([f"ann@{w.remote}"], subject=f"tenant-a-{uniq}")
    submit_as(w, bob, other.passwords[bob], [f"ben@{w.remote}"], f"tenant-b-{uniq}")
    m = with_subject(smarthost, f"tenant-a-{uniq}")
    assert m["mail_from"] == w.alice and rcpts(m) == [f"ann@{w.remote}"]
    m = with_subject(mx, f"tenant-b-{uniq}")
    assert m["mail_from"] == bob and rcpts(m) == [f"ben@{w.remote}"]
    assert not any(f"tenant-b-{uniq}".encode() in x["data"] for x in smarthost.messages)
    assert not any(f"tenant-a-{uniq}".encode() in x["data"] for x in mx.messages)


def test_provider_wide_route_with_auth_and_priority(world, routes, mailctl, stack, uniq):
    w = world
    tls = os.path.join(stack.state, "tls")
    first = w.sink(host="127.0.0.3", tls_cert=os.path.join(tls, "server.pem"),
                   tls_key=os.path.join(tls, "server.key"),
                   auth={"relayuser": "relay-Pass-1"})
    second = w.sink(host="127.0.0.4")
    mx = w.sink()
    w.start_dns()
    port = str(w.port)
    routes("all", "--host", "127.0.0.4", "--port", port, "--priority", "20")
    main = routes("all", "--host", "127.0.0.3", "--port", port, "--user", "relayuser",
                  "--priority", "10", password="relay-Pass-1")
    assert main["tls"] == "required" and main["auth_user"] == "relayuser"
    assert main["tenant"] is None
    listing = ok(mailctl("relay", "list")).stdout
    assert "relay-Pass-1" not in listing
    assert main["id"] in [i["id"] for i in json.loads(listing)["items"]]
    w.deliverd()
    qid = w.submit([f"gus@{w.remote}"], subject=f"all-route-{uniq}")
    m = with_subject(first, f"all-route-{uniq}")
    assert m["tls"] and m["auth_user"] == "relayuser"
    assert wait_until(lambda: entry_gone(stack, qid), 5)
    assert mx.messages == [] and second.messages == []
    # once removed, the next route takes over
    ok(mailctl("relay", "remove", str(main["id"])))
    w.submit([f"gil@{w.remote}"], subject=f"all-next-{uniq}")
    with_subject(second, f"all-next-{uniq}")
    assert mx.messages == []


def test_tenant_queue_lifetime_bounces_early(world, mailctl, stack, uniq):
    w = world
    w.sink(tempfail_all=True)
    w.start_dns()
    ok(mailctl("tenant", "set", w.tenant.name, "--queue-lifetime", "2s"))
    shown = json.loads(ok(mailctl("tenant", "show", w.tenant.name)).stdout)
    assert shown["queue_lifetime"] == 2
    bad = mailctl("tenant", "set", w.tenant.name, "--queue-lifetime", "61d")
    assert bad.returncode == 2 and "queue_lifetime" in bad.stderr
    w.deliverd()  # the server's lifetime stays at its default (days)
    qid = w.submit([f"fay@{w.remote}"], subject=f"tenant-expire-{uniq}")
    [dsn] = dsns(stack, w.alice, timeout=20)
    f = report_fields(dsn)
    assert f["action"] == "failed" and f["status"] == "4.4.7"
    assert "expired" in unfold(f["diagnostic-code"])
    assert wait_until(lambda: entry_gone(stack, qid), 5)
    ok(mailctl("tenant", "set", w.tenant.name, "--queue-lifetime", "default"))
    assert json.loads(ok(mailctl("tenant", "show", w.tenant.name)).stdout)[
        "queue_lifetime"] is None
