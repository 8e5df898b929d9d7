"""A 1 MiB stanza closes the sender's stream with <policy-violation/> (RFC 6120 §13.12, the
server's limit being smaller) and its addressee receives nothing of it."""

from hestia_e2e import Client, check, jid, run

MIB = 1024 * 1024


async def main():
    big = await Client(jid("slix_big", "x")).online("big")
    target = await Client(jid("slix_target", "t")).online("target")
    marker = await Client(jid("slix_marker", "m")).online("marker")
    announced = big.limits.max_bytes
    check("server announces its stanza limit (XEP-0478)", bool(announced) and announced < MIB, str(announced))

    big.send_message(mto=target.boundjid.full, mbody="x" * MIB, mtype="chat")
    try:
        await big.wait_closed()
        check("oversize sender disconnected", True)
    except TimeoutError:
        check("oversize sender disconnected", False, "still connected")
    check("stream error is policy-violation", big.stream_errors == ["policy-violation"], str(big.stream_errors))

    # Anything routed from the big stanza would be queued to the target before this marker.
    marker.send_message(mto=target.boundjid.full, mbody="marker", mtype="chat")
    msg = await target.next_message()
    check("addressee received nothing of the oversize stanza", msg["body"] == "marker", f"got {len(msg['body'])} bytes from {msg['from']}")
    await target.quit()
    await marker.quit()


run(main)
