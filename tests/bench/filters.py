"""Helpers of tests/bench/filters.sh (standard library only).

    filters.py dns DIR RECORDS PORTFILE
        serves the zone-file lines of RECORDS with Debian's unbound
        (tests/integration/dns_server.py) until SIGTERM; the port goes to
        PORTFILE once it answers.
    filters.py load CORPUS PORT MODE MSGS SESSIONS USERS OUT
        sends MSGS messages of the corpus (CORPUS/manifest: file, client
        IP, sender) to mc-smtpd on 127.0.0.1:PORT over SESSIONS parallel
        lanes, one connection per message, message j to
        user((j mod USERS)+1)@bench.test. MODE "on": the session names the
        outside client with XCLIENT (mail from outside: every filter runs);
        "off": plain loopback (a trusted client: no filter runs). Writes
        {"secs", "sent", "errors": [...]} as JSON to OUT.
"""
import json
import multiprocessing
import os
import signal
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))


def serve_dns(directory, records_file, port_file):
    """Runs unbound with the records until SIGTERM."""
    from dns_server import DnsServer
    with open(records_file) as f:
        records = [line.strip() for line in f if line.strip()]
    srv = DnsServer(directory, records)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.port))
    os.rename(port_file + ".tmp", port_file)
    try:
        while not stop:
            time.sleep(0.2)
    finally:
        srv.stop()


def corpus(directory):
    """[(bytes, client ip, sender)] of the manifest, in order."""
    out = []
    with open(os.path.join(directory, "manifest")) as f:
        for line in f:
            name, ip, sender = line.split()
            with open(os.path.join(directory, name), "rb") as m:
                out.append((m.read(), ip, sender))
    return out


def send_one(port, mode, msg, ip, sender, rcpt):
    """One SMTP session delivering msg; None or an error text."""
    helo = "mx." + sender.split("@")[1]
    s = smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=60)
    try:
        s.ehlo()
        if mode == "on":
            code, text = s.docmd("XCLIENT", f"ADDR={ip} HELO={helo}")
            if code != 220:
                return f"XCLIENT: {code} {text!r}"
            s.ehlo_resp = None
            s.ehlo(helo)
        code, text = s.mail(sender)
        if code != 250:
            return f"MAIL FROM:<{sender}> {code} {text!r}"
        code, text = s.rcpt(rcpt)
        if code != 250:
            return f"RCPT TO:<{rcpt}> {code} {text!r}"
        code, text = s.data(msg)
        if code != 250:
            return f"DATA from {sender} via {ip}: {code} {text!r}"
        s.quit()
        return None
    finally:
        s.close()


def lane(args):
    """Sends the messages j of one lane; (sent, errors)."""
    port, mode, msgs, users, sessions, k, directory, start = args
    items = corpus(directory)
    while time.time() < start:
        time.sleep(0.001)
    sent, errors = 0, []
    for j in range(k, msgs, sessions):
        msg, ip, sender = items[j % len(items)]
        rcpt = f"user{j % users + 1}@bench.test"
        try:
            err = send_one(port, mode, msg, ip, sender, rcpt)
        except (OSError, smtplib.SMTPException) as e:
            err = f"{type(e).__name__}: {e}"
        if err:
            errors.append(err)
        else:
            sent += 1
    return sent, errors


def load(directory, port, mode, msgs, sessions, users, out):
    """The whole load; writes the JSON result."""
    start = time.time() + 1.0
    args = [(port, mode, msgs, users, sessions, k, directory, start)
            for k in range(sessions)]
    with multiprocessing.Pool(sessions) as pool:
        results = pool.map(lane, args)
    secs = time.time() - start
    sent = sum(r[0] for r in results)
    errors = [e for r in results for e in r[1]]
    with open(out, "w") as f:
        json.dump({"secs": secs, "sent": sent, "errors": errors}, f)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "dns":
        serve_dns(*sys.argv[2:])
    elif len(sys.argv) == 9 and sys.argv[1] == "load":
        a = sys.argv[2:]
        load(a[0], int(a[1]), a[2], int(a[3]), int(a[4]), int(a[5]), a[6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
