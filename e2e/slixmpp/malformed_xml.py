"""Malformed XML from one client (`<a><b></a>` through slixmpp's send_raw) closes that
client's stream with <not-well-formed/> (RFC 6120 §4.9.3.13); a second client keeps working."""

from hestia_e2e import Client, check, jid, run, server_ping


async def main():
    bad = await Client(jid("slix_sloppy", "x")).online("sloppy")
    good = await Client(jid("slix_steady", "y"), plugins=("xep_0199",)).online("steady")

    bad.send_raw("<a><b></a>")
    try:
        await bad.wait_closed()
        check("malformed client disconnected by the server", True)
    except TimeoutError:
        check("malformed client disconnected by the server", False, "still connected")
    check("stream error is not-well-formed", bad.stream_errors == ["not-well-formed"], str(bad.stream_errors))

    check("other client still answers pings", await server_ping(good))
    good.send_message(mto=good.boundjid.full, mbody="still here", mtype="chat")
    msg = await good.next_message()
    check("other client still exchanges messages", msg["body"] == "still here", msg["body"])
    await good.quit()


run(main)
