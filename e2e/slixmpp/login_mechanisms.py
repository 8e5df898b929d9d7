"""Login with each SASL mechanism slixmpp is told to use: SCRAM-SHA-256, SCRAM-SHA-1, PLAIN
(PLAIN only under TLS, which the STARTTLS stream is), and over direct TLS (XEP-0368)."""

from hestia_e2e import Client, check, jid, run, server_ping

USER = "slix_mechs"  # created by the driver beforehand


async def main():
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"):
        c = Client(jid(USER, f"mech-{mech}"), mech=mech, plugins=("xep_0199",))
        outcome = await c.login()
        check(f"login with {mech}", outcome == "online", outcome)
        if outcome == "online":
            used = c.plugin["feature_mechanisms"].mech.name
            check(f"{mech} was the mechanism used", used == mech, used)
            check(f"{mech}: full JID bound with the requested resource",
                  c.boundjid.full == jid(USER, f"mech-{mech}"), c.boundjid.full)
            check(f"{mech}: server answers ping", await server_ping(c))
        await c.quit()

    c = Client(jid(USER, "direct"), direct_tls=True, plugins=("xep_0199",))
    outcome = await c.login()
    check("login over direct TLS", outcome == "online", outcome)
    await c.quit()


run(main)
