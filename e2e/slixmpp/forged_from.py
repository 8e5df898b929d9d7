"""A stanza whose `from` names someone else never reaches the addressee under that name: the
server either cuts the sender off with <invalid-from/> or stamps the real address (RFC 6120
§8.1.2.1). Hestia cuts off."""

from hestia_e2e import Client, check, jid, run


async def main():
    mallory = await Client(jid("slix_mallory", "m")).online("mallory")
    bob = await Client(jid("slix_receiver", "b")).online("receiver")
    carol = await Client(jid("slix_carol", "c")).online("carol")

    mallory.send_message(mto=bob.boundjid.full, mbody="I am carol", mtype="chat", mfrom=carol.boundjid.full)
    try:
        await mallory.wait_closed()
        forger_closed = True
    except TimeoutError:
        forger_closed = False
    check("forger's stream closed", forger_closed, f"errors={mallory.stream_errors}")
    check("stream error is invalid-from", mallory.stream_errors == ["invalid-from"], str(mallory.stream_errors))

    carol.send_message(mto=bob.boundjid.full, mbody="really carol", mtype="chat")
    msg = await bob.next_message()
    check("receiver never saw the forged message", msg["body"] == "really carol", f"{msg['from']}: {msg['body']}")
    check("genuine message carries carol's full JID", msg["from"].full == carol.boundjid.full, msg["from"].full)
    await bob.quit()
    await carol.quit()
    await mallory.quit()


run(main)
