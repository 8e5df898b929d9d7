"""A stanza before authentication is answered with the <not-authorized/> stream error
(RFC 6120 §4.9.3.12). slixmpp never sends stanzas before it has authenticated, so
this script speaks the stream itself over a socket, with Python's ssl for STARTTLS."""

import re
import socket
import ssl

from hestia_e2e import CA_FILE, DOMAIN, check, finish, jid
import hestia_e2e

HEADER = (
    f"<?xml version='1.0'?><stream:stream to='{DOMAIN}' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)
MESSAGE = f"<message to='{jid('someone')}' type='chat'><body>sneaky</body></message>"


def read_until(sock, pattern, limit=65536):
    """Reads until `pattern` matches what was received or the peer closes; returns the text."""
    data = b""
    while len(data) < limit:
        if re.search(pattern, data.decode(errors="replace"), re.S):
            break
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, ssl.SSLError):
            break
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def connect():
    sock = socket.create_connection((hestia_e2e.HOST, hestia_e2e.PORT), timeout=hestia_e2e.WAIT)
    sock.sendall(HEADER.encode())
    read_until(sock, r"</stream:features>")
    return sock


def starttls(sock):
    sock.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    read_until(sock, r"<proceed")
    ctx = ssl.create_default_context(cafile=CA_FILE)
    tls = ctx.wrap_socket(sock, server_hostname=DOMAIN)
    tls.sendall(HEADER.encode())
    features = read_until(tls, r"</stream:features>")
    return tls, features


def expect_not_authorized(name, sock):
    sock.sendall(MESSAGE.encode())
    reply = read_until(sock, r"</stream:stream>")
    check(f"{name}: stream error not-authorized",
          re.search(r"<stream:error>\s*<not-authorized\b", reply) is not None, reply[-300:])
    check(f"{name}: stream closed", reply.rstrip().endswith("</stream:stream>"), reply[-120:])
    sock.close()


expect_not_authorized("message before STARTTLS", connect())
tls, features = starttls(connect())
check("SASL offered after STARTTLS", "<mechanisms" in features, features)
expect_not_authorized("message after STARTTLS, before SASL", tls)
finish()
