"""A file through the IRSP's SOCKS5 bytestream proxy with slixmpp's own XEP-0065 plugin: the
initiator discovers the proxy (disco#items of the domain, disco#info, streamhost query),
offers it, the target connects and accepts, the initiator activates, and 1 MiB arrives
intact. An unrelated account's offer never gets that far."""

import asyncio
import hashlib
import random

from hestia_e2e import Client, IqError, IqTimeout, WAIT, DOMAIN, admin_add_user, check, jid, run

PLUGINS = ("xep_0030", "xep_0065")
SIZE = 1024 * 1024


async def main():
    alice = await Client(jid("slix_alice", "a"), plugins=PLUGINS).online("alice")
    bob = await Client(jid("slix_bob", "b"), plugins=PLUGINS).online("bob")
    bob.plugin["xep_0065"].auto_accept = True
    received = bytearray()
    complete = asyncio.get_running_loop().create_future()

    def on_data(data):
        received.extend(data)
        if len(received) >= SIZE and not complete.done():
            complete.set_result(True)

    bob.add_event_handler("socks5_data", on_data)

    try:
        sock = await alice.plugin["xep_0065"].handshake(bob.boundjid.full, timeout=WAIT)
    except (IqError, IqTimeout) as e:
        check("bytestream established through the proxy", False, repr(e))
        return
    proxies = alice.plugin["xep_0065"]._proxies
    check("proxy discovered via disco", f"proxy.{DOMAIN}" in {str(p) for p in proxies}, str(proxies))
    check("bytestream established through the proxy", sock is not None)
    if sock is None:
        return

    payload = random.Random(65).randbytes(SIZE)
    await sock.write(payload)
    try:
        await asyncio.wait_for(complete, WAIT)
    except asyncio.TimeoutError:
        pass
    check("all bytes arrived", len(received) == SIZE, f"{len(received)} of {SIZE}")
    check(
        "SHA-256 of what arrived equals what was sent",
        hashlib.sha256(received).digest() == hashlib.sha256(payload).digest(),
    )
    sock.transport.close()

    admin_add_user("slix_mallory")
    mallory = await Client(jid("slix_mallory", "m"), plugins=PLUGINS).online("mallory")
    try:
        await mallory.plugin["xep_0065"].handshake(alice.boundjid.full, timeout=WAIT)
        check("an unrelated offer is refused", False, "handshake succeeded")
    except IqError as e:
        condition = e.iq["error"]["condition"]
        check("an unrelated offer is refused", condition == "service-unavailable", condition)
    except IqTimeout:
        check("an unrelated offer is refused", False, "timeout")

    await alice.quit()
    await bob.quit()
    await mallory.quit()


run(main)
