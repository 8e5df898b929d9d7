"""A wrong password fails with <not-authorized/> (RFC 6120 §6.5.10) and no session starts."""

from hestia_e2e import Client, check, jid, run

USER = "slix_victim"  # created by the driver beforehand


async def main():
    c = Client(jid(USER), "not the password", mech="SCRAM-SHA-256")
    outcome = await c.login()
    check("login with a wrong password does not start a session", outcome == "auth-failed", outcome)
    check("failure condition is not-authorized", c.auth_failures == ["not-authorized"], str(c.auth_failures))
    await c.quit()

    c = Client(jid(USER), "not the password", mech="PLAIN")
    outcome = await c.login()
    check("PLAIN with a wrong password fails too", outcome == "auth-failed", outcome)
    check("PLAIN failure condition is not-authorized", c.auth_failures == ["not-authorized"], str(c.auth_failures))
    await c.quit()

    c = Client(jid("slix_nobody"), "whatever pw", mech="SCRAM-SHA-1")
    outcome = await c.login()
    check("unknown user fails like a wrong password", c.auth_failures == ["not-authorized"], f"{outcome} {c.auth_failures}")
    await c.quit()


run(main)
