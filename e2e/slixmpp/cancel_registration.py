"""XEP-0077 §3.2 cancel with slixmpp's xep_0077 cancel_registration: the account is gone, so
logging in afterwards fails with not-authorized."""

from hestia_e2e import Client, IqError, IqTimeout, WAIT, check, jid, run

USER = "slix_leaver"  # created by the driver beforehand
PLUGINS = ("xep_0030", "xep_0004", "xep_0066", "xep_0077")


async def main():
    c = await Client(jid(USER), plugins=PLUGINS).online("login")
    try:
        await c.plugin["xep_0077"].cancel_registration(jid=c.boundjid.domain, timeout=WAIT)
        check("cancel answered with a result", True)
    except (IqError, IqTimeout) as e:
        check("cancel answered with a result", False, repr(e))
    await c.quit()

    again = Client(jid(USER))
    outcome = await again.login()
    check("login after cancel refused", outcome == "auth-failed", outcome)
    check("login after cancel: not-authorized", again.auth_failures[:1] == ["not-authorized"], str(again.auth_failures))
    await again.quit()


run(main)
