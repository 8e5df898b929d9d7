// What both e2e scripts share: PASS/FAIL reporting, a deadline on every wait, the exit code,
// and the chat-message check.

import { xml } from "@xmpp/client";

export const WAIT_MS = 20_000;

let failures = 0;

/** Prints PASS or FAIL for one check; a failure makes the script exit 1. */
export function check(name, ok, why = "") {
  if (ok) {
    console.log(`PASS ${name}`);
  } else {
    failures += 1;
    console.log(`FAIL ${name}: ${why}`);
  }
}

/** `promise`, or a rejection naming `what` after WAIT_MS. */
export function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Sends the chat message `body` from `sender` to `recipient` (each `{ xmpp, jid }`, the client
 * with a `nextMessage()`), awaits it and checks it arrived as the check `delivered`; when a
 * `stamped` check is named, also that the server stamped it with the sender's full JID.
 */
export async function checkChat(sender, recipient, body, { delivered, stamped }) {
  await sender.xmpp.send(xml("message", { to: recipient.jid, type: "chat" }, xml("body", {}, body)));
  const got = await recipient.xmpp.nextMessage();
  check(delivered, got.getChildText("body") === body, got.toString());
  if (stamped) check(stamped, got.attrs.from === sender.jid, got.attrs.from);
}

/** Runs `main`, counts an escaped error as a failure, and exits with the verdict. */
export async function run(main) {
  try {
    await main();
  } catch (e) {
    check("scenario completed", false, e.stack ?? String(e));
  }
  if (failures > 0) console.log(`${failures} check(s) failed`);
  process.exit(failures > 0 ? 1 : 0);
}
