"""A scriptable SMTP server for the outbound delivery tests (stdlib only,
one thread per connection). It speaks EHLO/HELO, PIPELINING (commands are
simply processed in order), DATA with dot-unstuffing, BDAT n [LAST],
STARTTLS, AUTH PLAIN/LOGIN, RSET, NOOP, VRFY, QUIT, and records every
accepted message:

    {"mail_from": "a@x", "mail_params": {"SIZE": "12", "SMTPUTF8": None},
     "rcpts": [{"addr": "b@y", "params": {"NOTIFY": "FAILURE"}}],
     "to": ["b@y"], "data": b"...\\r\\n", "tls": True, "tls_version":
     "TLSv1.3", "sni": "mx1.example.test", "auth_user": None,
     "helo": "deliverd.test", "bdat": False}

    sink = SmtpSink("127.0.0.2", 2525, reject_rcpt={"x@y": "550 5.1.1 no"})
    ...; msgs = sink.wait(1, timeout=10); sink.stop()

Scripting: script is a callable reply(stage, arg, session) or a dict
{stage: reply} / {(stage, arg): reply}; a reply of None means the default
(OK). Stages: "connect" (arg None; a reply replaces the greeting),
"ehlo" (the name), "mail" and "rcpt" (the address), "data_cmd" (None,
the DATA command itself), "data" (the body as bytes, dot-unstuffed),
"bdat" (the whole body after BDAT ... LAST). A reply is a line such as
"450 4.2.0 try later" (lines joined by "\\n" make a multi-line reply;
the first line's code is used for all), or "DISCONNECT" to drop the connection without answering.
Presets (used when the script gives None): reject_rcpt maps an address to
its reply; tempfail_all answers every RCPT with a 451; require_auth and
require_tls refuse MAIL with 530 until AUTH / STARTTLS.
"""
import base64
import binascii
import socket
import ssl
import threading
import time

DEFAULT_EHLO = ("PIPELINING", "SIZE 10000000", "8BITMIME", "SMTPUTF8",
                "CHUNKING", "DSN", "ENHANCEDSTATUSCODES")
TEMPFAIL = "451 4.3.0 Temporary failure (test sink)"
LINE_MAX = 1 << 20


class Disconnect(Exception):
    """The session ends (QUIT, script "DISCONNECT", or a lost client)."""


def parse_params(words):
    """{"KEY": "value" or None} of ESMTP parameters, keys uppercased."""
    params = {}
    for w in words:
        key, eq, value = w.partition("=")
        params[key.upper()] = value if eq else None
    return params


def parse_path(arg, keyword):
    """(address, params) of "FROM:<a> P=V ..." / "TO:<a> ..."; None when
    malformed."""
    if not arg[:len(keyword)].upper() == keyword:
        return None
    rest = arg[len(keyword):].lstrip()
    if rest.startswith("<"):
        end = rest.find(">")
        if end < 0:
            return None
        addr, rest = rest[1:end], rest[end + 1:]
    else:
        addr, _, rest = rest.partition(" ")
    return addr, parse_params(rest.split())


class Session:
    """One client connection and its current transaction."""

    def __init__(self, sink, sock, peer):
        self.sink, self.sock, self.peer = sink, sock, peer
        self.rfile = sock.makefile("rb")
        self.helo = None
        self.tls = False
        self.tls_version = None
        self.sni = None
        self.auth_user = None
        self.transcript = []  # ("C" | "S", line)
        self.reset()

    def reset(self):
        """Forgets the transaction (RSET, EHLO, STARTTLS, after a message)."""
        self.mail_from = None
        self.mail_params = {}
        self.rcpts = []
        self.chunks = []
        self.bdat_failed = False

    def send(self, reply):
        """Sends a (possibly multi-line) reply; "DISCONNECT" drops us."""
        if reply == "DISCONNECT":
            raise Disconnect()
        lines = reply.split("\n")
        code, out = lines[0][:3], []
        for i, line in enumerate(lines):
            if line[:3].isdigit():
                line = line[4:]
            sep = "-" if i < len(lines) - 1 else " "
            out.append(code + sep + line)
            self.transcript.append(("S", out[-1]))
        self.sock.sendall(("\r\n".join(out) + "\r\n").encode())

    def readline(self):
        """One raw line (CRLF kept); Disconnect at EOF."""
        line = self.rfile.readline(LINE_MAX)
        if not line:
            raise Disconnect()
        return line

    def close(self):
        """Really closes the connection (the makefile holds the fd too)."""
        for step in (lambda: self.sock.shutdown(socket.SHUT_RDWR),
                     self.rfile.close, self.sock.close):
            try:
                step()
            except OSError:
                pass

    def message(self, data, bdat):
        """The record of the current transaction with body data."""
        return {"mail_from": self.mail_from, "mail_params": self.mail_params,
                "rcpts": list(self.rcpts),
                "to": [r["addr"] for r in self.rcpts], "data": data,
                "tls": self.tls, "tls_version": self.tls_version,
                "sni": self.sni, "auth_user": self.auth_user,
                "helo": self.helo, "bdat": bdat}


class SmtpSink:
    """The server: listens on host:port until stop()."""

    def __init__(self, host="127.0.0.2", port=None, tls_cert=None,
                 tls_key=None, ehlo=None, auth=None, script=None,
                 reject_rcpt=None, tempfail_all=False, require_auth=False,
                 require_tls=False, hostname="sink.test"):
        self.host, self.hostname = host, hostname
        self.auth = auth
        self.script = script
        self.reject_rcpt = dict(reject_rcpt or {})
        self.tempfail_all = tempfail_all
        self.require_auth, self.require_tls = require_auth, require_tls
        self.tls_ctx = self._tls_context(tls_cert, tls_key)
        self.ehlo = list(DEFAULT_EHLO if ehlo is None else ehlo)
        if ehlo is None and self.tls_ctx is not None:
            self.ehlo.append("STARTTLS")
        if ehlo is None and auth:
            self.ehlo.append("AUTH PLAIN LOGIN")
        self.messages, self.rejected, self.sessions = [], [], []
        self.connections = 0
        self.cond = threading.Condition()
        self._stopping = False
        self._threads = []
        self._listen(port or 0)

    def _tls_context(self, cert, key):
        """A server-side TLS context recording the client's SNI."""
        if cert is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

        def on_sni(sslsock, name, _ctx):
            sslsock.sni_name = name
        ctx.sni_callback = on_sni
        return ctx

    def _listen(self, port):
        """Binds host:port and starts the accept thread."""
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((self.host, port))
        self.lsock.listen(64)
        self.lsock.settimeout(0.1)
        self.port = self.lsock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept_loop(self):
        while not self._stopping:
            try:
                sock, peer = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(30)
            with self.cond:
                self.connections += 1
                self.cond.notify_all()
            t = threading.Thread(target=self._serve, args=(sock, peer),
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, sock, peer):
        """Runs one session until QUIT or the client goes away."""
        s = Session(self, sock, peer)
        with self.cond:
            self.sessions.append(s)
        try:
            self._session(s)
        except (Disconnect, OSError, ssl.SSLError, UnicodeError, ValueError):
            pass
        finally:
            s.close()

    def _session(self, s):
        greeting = self.decide("connect", None, s)
        if greeting is not None and not greeting.startswith("2"):
            s.send(greeting)
            return self._refuse_all(s)
        s.send(greeting or "220 %s ESMTP test sink" % self.hostname)
        while True:
            line = s.readline().decode("utf-8", "replace").rstrip("\r\n")
            s.transcript.append(("C", line))
            verb, _, arg = line.partition(" ")
            handler = COMMANDS.get(verb.upper())
            if handler is None:
                s.send("500 5.5.2 unknown command")
            else:
                handler(self, s, arg.strip())

    def _refuse_all(self, s):
        """After a negative greeting: 503 to everything but QUIT."""
        while True:
            line = s.readline().decode("utf-8", "replace").strip()
            s.transcript.append(("C", line))
            if line.upper() == "QUIT":
                s.send("221 2.0.0 bye")
                return
            s.send("503 5.5.1 no service")

    def decide(self, stage, arg, session):
        """The script's reply for a stage, then the presets', or None."""
        reply = None
        if callable(self.script):
            reply = self.script(stage, arg, session)
        elif isinstance(self.script, dict):
            reply = self.script.get((stage, arg), self.script.get(stage))
        if reply is None and stage == "rcpt":
            reply = self.reject_rcpt.get(arg)
            if reply is None and self.tempfail_all:
                reply = TEMPFAIL
        return reply

    def deliver(self, s, data, bdat):
        """Final reply for a complete body; records accepted messages."""
        reply = self.decide("bdat" if bdat else "data", data, s)
        msg = s.message(data, bdat)
        with self.cond:
            if reply is None or reply.startswith("2"):
                self.messages.append(msg)
            else:
                self.rejected.append(msg)
            self.cond.notify_all()
        s.reset()
        s.send(reply or "250 2.0.0 Ok: queued as %d" % len(self.messages))

    def wait(self, n, timeout=10.0):
        """Blocks until n messages arrived; returns them (TimeoutError)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%s:%d got %d of %d messages" % (
                        self.host, self.port, len(self.messages), n))
                self.cond.wait(left)
            return list(self.messages)

    def wait_connections(self, n, timeout=10.0):
        """Blocks until n connections were accepted."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.connections < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%d of %d connections" % (
                        self.connections, n))
                self.cond.wait(left)

    def stop(self):
        """Closes the listener and every session (idempotent)."""
        self._stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass
        for s in list(self.sessions):
            try:
                s.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in list(self._threads):
            t.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---- one function per command: (sink, session, argument) ----

def cmd_ehlo(sink, s, arg):
    reply = sink.decide("ehlo", arg, s)
    if reply is not None and not reply.startswith("2"):
        return s.send(reply)
    s.helo = arg
    s.reset()
    lines = ["250 %s" % sink.hostname] + ["250 " + e for e in sink.ehlo]
    s.send("\n".join(lines))


def cmd_helo(sink, s, arg):
    reply = sink.decide("ehlo", arg, s)
    if reply is not None and not reply.startswith("2"):
        return s.send(reply)
    s.helo = arg
    s.reset()
    s.send("250 %s" % sink.hostname)


def cmd_starttls(sink, s, arg):
    if sink.tls_ctx is None or s.tls:
        return s.send("502 5.5.1 STARTTLS not available")
    s.send("220 2.0.0 Ready to start TLS")
    tls = sink.tls_ctx.wrap_socket(s.sock, server_side=True)
    s.sock, s.rfile = tls, tls.makefile("rb")  # drops pipelined plaintext
    s.tls, s.tls_version = True, tls.version()
    s.sni = getattr(tls, "sni_name", None)
    s.helo = None
    s.reset()


def b64(text):
    """Decoded base64 as str; ValueError when malformed."""
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeError) as e:
        raise ValueError(str(e)) from e


def auth_check(sink, s, user, password):
    """Replies to a complete AUTH exchange."""
    if sink.auth and sink.auth.get(user) == password:
        s.auth_user = user
        return s.send("235 2.7.0 Authentication successful")
    s.send("535 5.7.8 Authentication credentials invalid")


def auth_read(s, prompt):
    """Sends a 334 challenge, returns the decoded answer (None: "*")."""
    s.send("334 " + prompt)
    line = s.readline().decode().strip()
    s.transcript.append(("C", line))
    return None if line == "*" else b64(line)


def cmd_auth(sink, s, arg):
    mech, _, initial = arg.partition(" ")
    if not sink.auth or s.auth_user is not None:
        return s.send("503 5.5.1 AUTH not available")
    try:
        if mech.upper() == "PLAIN":
            resp = b64(initial) if initial else auth_read(s, "")
            if resp is None:
                return s.send("501 5.7.0 cancelled")
            _, user, password = resp.split("\0", 2)
        elif mech.upper() == "LOGIN":
            user = b64(initial) if initial else auth_read(s, "VXNlcm5hbWU6")
            password = None if user is None else auth_read(s, "UGFzc3dvcmQ6")
            if password is None:
                return s.send("501 5.7.0 cancelled")
        else:
            return s.send("504 5.5.4 unknown mechanism")
    except ValueError:
        return s.send("501 5.5.2 malformed AUTH response")
    auth_check(sink, s, user, password)


def cmd_mail(sink, s, arg):
    path = parse_path(arg, "FROM:")
    if s.helo is None:
        return s.send("503 5.5.1 EHLO first")
    if s.mail_from is not None:
        return s.send("503 5.5.1 nested MAIL")
    if path is None:
        return s.send("501 5.5.4 bad MAIL syntax")
    if sink.require_tls and not s.tls:
        return s.send("530 5.7.0 Must issue a STARTTLS command first")
    if sink.require_auth and s.auth_user is None:
        return s.send("530 5.7.0 Authentication required")
    reply = sink.decide("mail", path[0], s)
    if reply is None or reply.startswith("2"):
        s.mail_from, s.mail_params = path
    s.send(reply or "250 2.1.0 Ok")


def cmd_rcpt(sink, s, arg):
    path = parse_path(arg, "TO:")
    if s.mail_from is None:
        return s.send("503 5.5.1 MAIL first")
    if path is None:
        return s.send("501 5.5.4 bad RCPT syntax")
    reply = sink.decide("rcpt", path[0], s)
    if reply is None or reply.startswith("2"):
        s.rcpts.append({"addr": path[0], "params": path[1]})
    s.send(reply or "250 2.1.5 Ok")


def read_data(s):
    """The DATA body up to "." alone, dot-unstuffed, line ends kept."""
    out = []
    while True:
        line = s.readline()
        if line in (b".\r\n", b".\n"):
            return b"".join(out)
        out.append(line[1:] if line.startswith(b".") else line)


def cmd_data(sink, s, arg):
    if s.mail_from is None or not s.rcpts:
        return s.send("503 5.5.1 no valid recipients")
    reply = sink.decide("data_cmd", None, s)
    if reply is not None and not reply.startswith("3"):
        return s.send(reply)
    s.send(reply or "354 End data with <CR><LF>.<CR><LF>")
    sink.deliver(s, read_data(s), False)


def cmd_bdat(sink, s, arg):
    words = arg.split()
    if not words or not words[0].isdigit() or len(words) > 2 or (
            len(words) == 2 and words[1].upper() != "LAST"):
        return s.send("501 5.5.4 bad BDAT syntax")
    size, last = int(words[0]), len(words) == 2
    chunk = s.rfile.read(size) if size else b""
    if len(chunk) < size:
        raise Disconnect()
    if s.mail_from is None or not s.rcpts or s.bdat_failed:
        s.bdat_failed = not last
        return s.send("503 5.5.1 no valid recipients")
    s.chunks.append(chunk)
    if not last:
        return s.send("250 2.0.0 %d octets received" % size)
    sink.deliver(s, b"".join(s.chunks), True)


def cmd_rset(sink, s, arg):
    s.reset()
    s.send("250 2.0.0 Ok")


def cmd_noop(sink, s, arg):
    s.send("250 2.0.0 Ok")


def cmd_vrfy(sink, s, arg):
    s.send("252 2.1.5 Cannot VRFY")


def cmd_quit(sink, s, arg):
    s.send("221 2.0.0 Bye")
    raise Disconnect()


COMMANDS = {"EHLO": cmd_ehlo, "HELO": cmd_helo, "STARTTLS": cmd_starttls,
            "AUTH": cmd_auth, "MAIL": cmd_mail, "RCPT": cmd_rcpt,
            "DATA": cmd_data, "BDAT": cmd_bdat, "RSET": cmd_rset,
            "NOOP": cmd_noop, "VRFY": cmd_vrfy, "QUIT": cmd_quit}
