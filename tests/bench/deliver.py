"""Helpers of tests/bench/deliver.sh (stdlib only).

    deliver.py dns DIR RECORDS_FILE
        Serves the zone-file lines of RECORDS_FILE with Debian's unbound
        (tests/integration/dns_server.py) on a free 127.0.0.1 port, prints
        "ready PORT" and runs until SIGTERM.
    deliver.py check DUMP_DIR PLAN_FILE [--dkim]
        Checks what Postfix's smtp-sink captured (-d DUMP_DIR/): every
        recipient of the plan ("DOMAIN COUNT" lines; smtp-source -N names
        them 1rcpt@DOMAIN .. COUNTrcpt@DOMAIN) exactly once, nothing else,
        and with --dkim a DKIM-Signature header in every message. Prints one
        summary line; exit status 1 when something is wrong.
"""
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))


def serve_dns(directory, records_file):
    """Runs unbound with the records until SIGTERM or SIGINT."""
    from dns_server import DnsServer
    with open(records_file) as f:
        records = [line.strip() for line in f if line.strip()]
    srv = DnsServer(directory, records)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("ready", srv.port, flush=True)
    try:
        while not stop:
            signal.pause()
    finally:
        srv.stop()


def expected(plan_file):
    """The recipients smtp-source -N sent, from the plan."""
    want = set()
    with open(plan_file) as f:
        for line in f:
            if not line.strip():
                continue
            domain, count = line.split()
            want.update("%drcpt@%s" % (i, domain)
                        for i in range(1, int(count) + 1))
    return want


def dump_header(path):
    """(recipients, has DKIM-Signature) of one smtp-sink dump file."""
    rcpts, signed = [], False
    with open(path, "rb") as f:
        for raw in f:
            line = raw.rstrip(b"\r\n")
            if line == b"":
                break  # end of the message header
            if line.startswith(b"X-Rcpt-Args:"):
                arg = line.split(b":", 1)[1].strip().split()[0]
                rcpts.append(arg.strip(b"<>").decode("ascii", "replace"))
            elif line[:15].lower() == b"dkim-signature:":
                signed = True
    return rcpts, signed


def check(dump_dir, plan_file, dkim):
    """Compares the captured messages with the plan; 0 when they match."""
    want = expected(plan_file)
    seen = {}
    files = unsigned = 0
    for name in os.listdir(dump_dir):
        files += 1
        rcpts, signed = dump_header(os.path.join(dump_dir, name))
        unsigned += not signed
        for r in rcpts:
            seen[r] = seen.get(r, 0) + 1
    missing = len(want - set(seen))
    dup = sum(1 for n in seen.values() if n > 1)
    extra = len(set(seen) - want)
    bad = missing or dup or extra or files != len(want) or \
        (dkim and unsigned)
    print("messages %d, expected %d, missing %d, duplicated %d, unexpected %d, "
          "without DKIM-Signature %d" % (files, len(want), missing, dup, extra,
                                         unsigned))
    return 1 if bad else 0


def main(argv):
    if len(argv) == 3 and argv[0] == "dns":
        serve_dns(argv[1], argv[2])
        return 0
    if len(argv) in (3, 4) and argv[0] == "check":
        return check(argv[1], argv[2], argv[3:] == ["--dkim"])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
