"""Shared helpers for the slixmpp end-to-end scripts.

Written against slixmpp's public API only. The Rust driver (crates/hestia-server/tests/
e2e_slixmpp.rs) starts an in-process Hestia and passes where it listens in the environment:
HOST, PORT (STARTTLS), TLS_PORT (direct TLS), DOMAIN, CA_FILE, HTTP_BASE, ADMIN_TOKEN, PASSWORD.

Each script prints one `PASS <check>` or `FAIL <check>: <why>` line per check and exits 1 if
any check failed.
"""

import asyncio
import json
import logging
import os
import ssl
import sys
import urllib.request

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

HOST = os.environ["HOST"]
PORT = int(os.environ["PORT"])
TLS_PORT = int(os.environ.get("TLS_PORT", "0"))
DOMAIN = os.environ["DOMAIN"]
CA_FILE = os.environ["CA_FILE"]
HTTP_BASE = os.environ.get("HTTP_BASE", "")
ADMIN_TOKEN = os.environ.get("ADMIN_TOKEN", "")
PASSWORD = os.environ.get("PASSWORD", "correct horse")

# Seconds any single wait may take before the check fails.
WAIT = 20

logging.basicConfig(
    level=logging.DEBUG if os.environ.get("E2E_DEBUG") else logging.CRITICAL,
    format="%(levelname)s %(name)s %(message)s",
)

_failures = []
_tls = None


def tls_context():
    """One TLS context for every client, trusting only the server's CA (slixmpp's default
    context would load the system store for each client, which is slow and not wanted)."""
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context(cafile=CA_FILE)
    return _tls


def check(name, ok, why=""):
    """Records and prints one check."""
    if ok:
        print(f"PASS {name}", flush=True)
    else:
        _failures.append(name)
        print(f"FAIL {name}: {why}", flush=True)
    return ok


def finish():
    """Exits with 0 only if every check passed."""
    if _failures:
        print(f"{len(_failures)} check(s) failed: {', '.join(_failures)}", flush=True)
        sys.exit(1)
    sys.exit(0)


def run(main):
    """Runs the scenario coroutine; an exception is a failed check."""
    try:
        asyncio.run(asyncio.wait_for(main(), timeout=240))
    except Exception as e:  # noqa: BLE001 - report anything as a failure
        check("scenario completed", False, f"{type(e).__name__}: {e}")
    finish()


def jid(user, resource=None):
    return f"{user}@{DOMAIN}" + (f"/{resource}" if resource else "")


def admin_add_user(username, password=PASSWORD):
    """Creates a user through the admin API (POST /admin/v1/users)."""
    body = json.dumps({"username": username, "password": password}).encode()
    req = urllib.request.Request(
        f"{HTTP_BASE}/admin/v1/users",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {ADMIN_TOKEN}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(req, timeout=WAIT) as resp:
        if resp.status != 201:
            raise RuntimeError(f"admin API answered {resp.status} for {username}")


class Client(slixmpp.ClientXMPP):
    """A slixmpp client pointed at the test server, trusting only its CA.

    `outcome` resolves to "online" after session start, or to "auth-failed" /
    "disconnected" / "stream-error:<condition>" if it never gets there.
    """

    def __init__(self, user_jid, password=PASSWORD, mech=None, plugins=(), direct_tls=False):
        super().__init__(user_jid, password, sasl_mech=mech, ssl_context=tls_context())
        # A custom address is tried with every transport enabled; keep only the one meant.
        self.enable_direct_tls = direct_tls
        self.enable_starttls = not direct_tls
        self.enable_plaintext = False
        self._port = TLS_PORT if direct_tls else PORT
        for p in plugins:
            self.register_plugin(p)
        loop = asyncio.get_running_loop()
        self.outcome = loop.create_future()
        self.closed = loop.create_future()
        self.inbox = asyncio.Queue()
        self.stream_errors = []
        self.auth_failures = []
        self.add_event_handler("session_start", self._on_start)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("failed_all_auth", lambda _: self._settle("auth-failed"))
        self.add_event_handler("stream_error", self._on_stream_error)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("message", self.inbox.put_nowait)

    def _settle(self, value):
        if not self.outcome.done():
            self.outcome.set_result(value)

    async def _on_start(self, _event):
        self._settle("online")

    def _on_failed_auth(self, failure):
        self.auth_failures.append(failure["condition"])

    def _on_stream_error(self, error):
        self.stream_errors.append(error["condition"])
        self._settle(f"stream-error:{error['condition']}")

    def _on_disconnected(self, _reason):
        self._settle("disconnected")
        if not self.closed.done():
            self.closed.set_result(True)

    def start(self):
        self.connect(HOST, self._port)

    async def login(self, timeout=WAIT):
        """Connects and returns the outcome (see the class doc)."""
        self.start()
        return await asyncio.wait_for(asyncio.shield(self.outcome), timeout)

    async def online(self, what):
        """Logs in; an outcome other than "online" fails the scenario."""
        outcome = await self.login()
        if outcome != "online":
            raise RuntimeError(f"{what}: login outcome {outcome}")
        return self

    async def next_message(self, timeout=WAIT):
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def wait_closed(self, timeout=WAIT):
        await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    async def quit(self):
        if not self.closed.done():
            self.disconnect(wait=2)
            try:
                await self.wait_closed(5)
            except asyncio.TimeoutError:
                self.abort()


async def server_ping(client):
    """XEP-0199 ping to the server; True if it answered with a result."""
    try:
        await client.plugin["xep_0199"].send_ping(DOMAIN, timeout=WAIT)
        return True
    except (IqError, IqTimeout):
        return False


__all__ = [
    "ADMIN_TOKEN",
    "CA_FILE",
    "Client",
    "DOMAIN",
    "IqError",
    "IqTimeout",
    "PASSWORD",
    "WAIT",
    "admin_add_user",
    "check",
    "finish",
    "jid",
    "run",
    "server_ping",
]
