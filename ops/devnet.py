#!/usr/bin/env python3
"""make run's stand-in for the Internet, on loopback only: a DNS server
(Debian's unbound, the tests' tests/integration/dns_server.py) serving the
demo zones, which mc-deliverd reaches through [dns] upstream, and an SMTP
sink for the external domain example.net (MX mx.example.net = 127.0.0.2 on
the [delivery] port), the tests' smtp_sink.py. Mail that reaches the sink
is written to STATE/sink/NNNN.eml. Runs until SIGTERM or SIGINT.

    ops/devnet.py --state DIR --dns-port P --mx-port P [--dkim FILE.json]

FILE.json is the output of `mailctl dkim list demo.test`: its DKIM
records are published so that a receiver can verify the signatures."""
import argparse
import json
import os
import signal
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

from dns_server import DnsServer  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402

EXTERNAL = "example.net"
SINK_IP = "127.0.0.2"


def txt_strings(value):
    """A TXT value as quoted strings of at most 200 bytes."""
    return " ".join('"%s"' % value[i:i + 200] for i in range(0, len(value), 200))


def records(dkim_file):
    """The demo zones: example.net's MX and demo.test's DKIM keys."""
    out = [f"{EXTERNAL}. MX 10 mx.{EXTERNAL}.", f"mx.{EXTERNAL}. A {SINK_IP}",
           f'{EXTERNAL}. TXT "v=spf1 ip4:{SINK_IP} -all"']
    if dkim_file and os.path.exists(dkim_file):
        with open(dkim_file) as f:
            listing = json.load(f)
        for key in listing.get("items", []):
            if key.get("status") == "active" and key.get("dns_value"):
                out.append(f"{key['dns_name']}. TXT {txt_strings(key['dns_value'])}")
    return out


def save_new(sink, outdir, seen):
    """Writes the messages the sink got since the last call (seen of its
    messages are written); returns the new count."""
    for m in sink.messages[seen:]:
        seen += 1
        n = len([f for f in os.listdir(outdir) if f.endswith(".eml")]) + 1
        path = os.path.join(outdir, "%04d.eml" % n)
        with open(path + ".tmp", "wb") as f:
            f.write(m["data"])
        os.rename(path + ".tmp", path)
        print(f"devnet: {path}: from <{m['mail_from']}> to "
              f"{', '.join(r['addr'] for r in m['rcpts'])}", flush=True)
    return seen


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", required=True)
    ap.add_argument("--dns-port", type=int, required=True)
    ap.add_argument("--mx-port", type=int, required=True)
    ap.add_argument("--dkim")
    a = ap.parse_args()
    outdir = os.path.join(a.state, "sink")
    os.makedirs(outdir, exist_ok=True)
    tls = os.path.join(a.state, "tls")
    dns = DnsServer(os.path.join(a.state, "run"), records(a.dkim), port=a.dns_port)
    sink = SmtpSink(host=SINK_IP, port=a.mx_port,
                    tls_cert=os.path.join(tls, "server.pem"),
                    tls_key=os.path.join(tls, "server.key"))
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    print(f"devnet ready: dns {dns.upstream}, {EXTERNAL} MX {SINK_IP}:{a.mx_port}",
          flush=True)
    seen = 0
    while not stop:
        seen = save_new(sink, outdir, seen)
        time.sleep(0.2)
    save_new(sink, outdir, seen)
    sink.stop()
    dns.stop()


if __name__ == "__main__":
    main()
