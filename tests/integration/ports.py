"""Free loopback ports for a test stack: PostgreSQL, Redis, and an offset
such that every dev port of DESIGN.md plus the offset is free. Run as a
script it prints "PG REDIS OFFSET"."""
import random
import socket

DEV_PORTS = {
    "smtp": 2525, "submission": 2587, "submissions": 2465,
    "imap": 2143, "imaps": 2993, "pop3": 2110, "pop3s": 2995,
    "http": 8080, "https": 8443,
}


def is_free(port):
    """True when nothing listens on 127.0.0.1:port and we may bind it."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port():
    """One free port chosen by the kernel."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_offset(lo=10000, hi=24000):
    """An offset for which every dev port is free. The dev ports then stay
    below 32768, out of the kernel's ephemeral range: an outgoing
    connection (a test client, a delivery) can never hold a daemon's
    port while the daemon is between two tests."""
    for _ in range(200):
        off = random.randrange(lo, hi)
        if all(is_free(p + off) for p in DEV_PORTS.values()):
            return off
    raise RuntimeError("no free port offset")


if __name__ == "__main__":
    print(free_port(), free_port(), free_offset())
