"""A throwaway DNS authority for the delivery tests: Debian's unbound
serving zone-file lines as local-data on 127.0.0.1:<free port>, reached by
the daemons through "[dns] upstream = <server.upstream>". Stdlib only.

    import pytest
    from dns_server import DnsServer

    @pytest.fixture
    def dns(tmp_path):
        srv = DnsServer(str(tmp_path), [
            "example.test. MX 10 mx1.example.test.",
            "mx1.example.test. A 127.0.0.2",
            'example.test. TXT "v=spf1 " "-all"',
            "_25._tcp.mx1.example.test. TLSA 3 1 1 " + "ab" * 32,
        ])
        yield srv
        srv.stop()

    def test_something(dns):
        conf = f"[dns]\\nupstream = {dns.upstream}\\n"
        ...

Every zone named (by default the last two labels of each owner name,
"example.test." above; or pass zones=) is a "static" local-zone: a name in
it without records is NXDOMAIN, a name without the asked type NODATA. All
other names get NXDOMAIN too ("." is static), so nothing leaves the host.
zones= may also map a zone to another unbound local-zone type, e.g.
{"slow.test.": "deny"} (queries dropped: the client times out) or
{"broken.test.": "refuse"}. Records carry unbound's default TTL (3600)
unless the line gives one ("name. 0 A 127.0.0.2"); resolvers cache what
they saw, so give changing names TTL 0 before add().
"""
import os
import random
import signal
import socket
import struct
import subprocess
import time

UNBOUND = "/usr/sbin/unbound"

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16,
         "AAAA": 28, "TLSA": 52}
RCODE_NOERROR, RCODE_SERVFAIL, RCODE_NXDOMAIN = 0, 2, 3


def available():
    """True when the unbound server binary is installed."""
    return os.access(UNBOUND, os.X_OK)


def free_port():
    """A 127.0.0.1 port free for both TCP and UDP a moment ago."""
    for _ in range(100):
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free TCP+UDP port")


def encode_name(name):
    """The uncompressed wire form of a text name."""
    labels = [l for l in name.rstrip(".").split(".") if l]
    return b"".join(bytes([len(l)]) + l.encode() for l in labels) + b"\0"


def read_name(msg, pos):
    """(text name without the dot, position after it) at msg[pos]."""
    labels, end, hops = [], None, 0
    while True:
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = pos + 2
            pos = (n & 0x3F) << 8 | msg[pos + 1]
            hops += 1
            if hops > 64:
                raise ValueError("compression loop")
            continue
        pos += 1
        if n == 0:
            break
        labels.append(msg[pos:pos + n].decode("ascii", "replace"))
        pos += n
    return ".".join(labels), end if end is not None else pos


def decode_rdata(msg, rtype, pos, rdlen):
    """The value of one record: A/AAAA text, MX (pref, host), TXT [str],
    TLSA (usage, selector, mtype, hex), CNAME/NS host; else raw bytes."""
    rdata = msg[pos:pos + rdlen]
    if rtype == TYPES["A"]:
        return socket.inet_ntop(socket.AF_INET, rdata)
    if rtype == TYPES["AAAA"]:
        return socket.inet_ntop(socket.AF_INET6, rdata)
    if rtype == TYPES["MX"]:
        return struct.unpack(">H", rdata[:2])[0], read_name(msg, pos + 2)[0]
    if rtype in (TYPES["CNAME"], TYPES["NS"]):
        return read_name(msg, pos)[0]
    if rtype == TYPES["TXT"]:
        out, i = [], 0
        while i < len(rdata):
            out.append(rdata[i + 1:i + 1 + rdata[i]].decode("utf-8", "replace"))
            i += 1 + rdata[i]
        return out
    if rtype == TYPES["TLSA"]:
        return rdata[0], rdata[1], rdata[2], rdata[3:].hex()
    return rdata


def parse_response(msg):
    """(rcode, [(name, type, value)]) of a response; see decode_rdata."""
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    pos = 12
    for _ in range(qd):
        _, pos = read_name(msg, pos)
        pos += 4
    answers = []
    for _ in range(an):
        name, pos = read_name(msg, pos)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        answers.append((name, rtype, decode_rdata(msg, rtype, pos, rdlen)))
        pos += rdlen
    return flags & 0x0F, answers


def query(port, name, qtype="A", timeout=1.0, host="127.0.0.1"):
    """Asks host:port over UDP; (rcode, answers) as parse_response gives.
    Raises socket.timeout (an OSError) when nothing answers."""
    qid = random.randrange(65536)
    t = TYPES[qtype] if isinstance(qtype, str) else qtype
    pkt = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    pkt += encode_name(name) + struct.pack(">HH", t, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(pkt, (host, port))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no DNS answer from port %d" % port)
            s.settimeout(left)
            msg, _ = s.recvfrom(65535)
            if len(msg) >= 12 and struct.unpack(">H", msg[:2])[0] == qid:
                return parse_response(msg)


def values(answers, qtype):
    """The decoded values of the answers of one type."""
    t = TYPES[qtype] if isinstance(qtype, str) else qtype
    return [v for _, rtype, v in answers if rtype == t]


def sign_zone(directory, name, records):
    """Writes zone name (SOA, NS and the record lines given) and signs it
    with ldns-signzone (ECDSA P-256 KSK and ZSK, NSEC); returns the signed
    zone file and the KSK's DS record line (the trust anchor)."""
    zone = name.rstrip(".") + "."
    path = os.path.join(directory, zone + "zone")
    with open(path, "w") as f:
        f.write("$ORIGIN %s\n$TTL 300\n" % zone)
        f.write("@ IN SOA ns.%s admin.%s 1 3600 600 86400 300\n" % (zone, zone))
        f.write("@ IN NS ns.%s\nns.%s IN A 127.0.0.1\n" % (zone, zone))
        f.writelines(line + "\n" for line in records)

    def keygen(*args):
        return subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", *args, zone],
                              cwd=directory, check=True, capture_output=True,
                              text=True).stdout.strip()
    ksk, zsk = keygen("-k"), keygen()
    subprocess.run(["ldns-signzone", path, ksk, zsk], cwd=directory, check=True,
                   capture_output=True)
    with open(os.path.join(directory, ksk + ".ds")) as f:
        ds = "".join(line for line in f if not line.startswith(";"))
    return path + ".signed", ds


def zone_of(owner):
    """The default zone of an owner name: its last two labels."""
    labels = [l for l in owner.rstrip(".").split(".") if l]
    return ".".join(labels[-2:]) + "."


class DnsServer:
    """unbound serving records (zone-file lines) on 127.0.0.1:.port."""

    def __init__(self, tmpdir, records=(), zones=None, port=None, signed=None):
        if not available():
            raise RuntimeError(UNBOUND + " is not installed")
        self.dir = os.path.join(tmpdir, "dns-%d" % os.getpid())
        os.makedirs(self.dir, exist_ok=True)
        self.records = []
        self.zones = {}
        # DNSSEC-signed zones served from zone files (auth-zone), and the
        # trust anchor (DS records) a validating resolver needs for them
        self.signed = {name.rstrip(".") + ".": sign_zone(self.dir, name, recs)
                       for name, recs in (signed or {}).items()}
        self.trust_anchor = os.path.join(self.dir, "trust-anchor.ds")
        with open(self.trust_anchor, "w") as f:
            f.writelines(ds for _, ds in self.signed.values())
        self.port = port or free_port()
        self.upstream = "127.0.0.1:%d" % self.port
        self.proc = None
        self.log_path = os.path.join(self.dir, "unbound.log")
        self._extend(records, zones)
        self.start()

    def _extend(self, records, zones):
        """Adds record lines and zones (list: static; dict: name → type)."""
        for line in records:
            if "'" in line or "\n" in line:
                raise ValueError("record line with ' or newline: %r" % line)
            self.records.append(line.strip())
            self.zones.setdefault(zone_of(line.split()[0]), "static")
        if isinstance(zones, dict):
            for name, kind in zones.items():
                self.zones[name.rstrip(".") + "."] = kind
        else:
            for name in zones or ():
                self.zones[name.rstrip(".") + "."] = "static"

    def config(self):
        """The unbound.conf text."""
        lines = ["server:",
                 " interface: 127.0.0.1@%d" % self.port,
                 " port: %d" % self.port,
                 " do-daemonize: no", ' chroot: ""', ' username: ""',
                 ' pidfile: ""', " use-syslog: no", ' logfile: ""',
                 ' directory: "%s"' % self.dir,
                 " do-ip6: no", " num-threads: 1", " so-reuseport: no",
                 ' module-config: "iterator"',
                 ' local-zone: "." static']
        for name, kind in sorted(self.zones.items()):
            lines.append(' local-zone: "%s" %s' % (name, kind))
        for rec in self.records:
            lines.append(" local-data: '%s'" % rec)
        for name in sorted(self.signed):
            lines.append(' local-zone: "%s" transparent' % name)
        for name, (zonefile, _) in sorted(self.signed.items()):
            lines += ["auth-zone:", ' name: "%s"' % name,
                      ' zonefile: "%s"' % zonefile, " for-downstream: yes",
                      " for-upstream: no", " fallback-enabled: no"]
        lines += ["remote-control:", " control-enable: no", ""]
        return "\n".join(lines)

    def start(self, timeout=5.0):
        """Writes the config, starts unbound and waits until it answers."""
        conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w") as f:
            f.write(self.config())
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", conf],
                                     stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout):
        """Polls with raw queries until unbound answers (or died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("unbound exited: " + self.log())
            try:
                query(self.port, "localhost.", "A", timeout=0.1)
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("unbound did not answer: " + self.log())

    def log(self):
        """What unbound wrote so far."""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def query(self, name, qtype="A", timeout=1.0):
        """query() against this server."""
        return query(self.port, name, qtype, timeout)

    def add(self, records, zones=None):
        """Serves more records (restarts unbound on the same port)."""
        self._extend(records, zones)
        self.reload()

    def reload(self):
        """Restarts unbound with the current records, same port."""
        self.stop()
        self.start()

    def stop(self):
        """Stops unbound (idempotent)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
