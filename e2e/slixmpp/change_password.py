"""XEP-0077 §3.3 password change with slixmpp's xep_0077 change_password: afterwards the old
password fails and the new one works."""

from hestia_e2e import Client, IqError, IqTimeout, PASSWORD, WAIT, check, jid, run

USER = "slix_changer"  # created by the driver beforehand
NEW = "brand new secret"
PLUGINS = ("xep_0030", "xep_0004", "xep_0066", "xep_0077")


async def main():
    c = await Client(jid(USER), plugins=PLUGINS).online("login")
    try:
        await c.plugin["xep_0077"].change_password(NEW, jid=c.boundjid.domain, timeout=WAIT)
        check("password change accepted", True)
    except (IqError, IqTimeout) as e:
        check("password change accepted", False, repr(e))
    await c.quit()

    old = Client(jid(USER), PASSWORD)
    outcome = await old.login()
    check("old password refused", outcome == "auth-failed", outcome)
    check("old password: not-authorized", old.auth_failures[:1] == ["not-authorized"], str(old.auth_failures))
    await old.quit()

    new = Client(jid(USER), NEW)
    outcome = await new.login()
    check("new password accepted", outcome == "online", outcome)
    await new.quit()


run(main)
