// Linking a second home from the web console, in headless Chromium: two `hestia serve --demo`
// (home A at HTTP_BASE on 127.0.0.1, home B at PEER_BASE on 127.0.0.2, so their cookies never
// mix) that crates/hestia/tests/e2e_console.rs registered as each other's peers. Alice at A
// links her account at B through B's consent screen, sees and switches B's lamp from A's
// console, and unlinks.

import { api, card, check, collectErrors, eventually, run, signIn } from "./harness.js";

const [A, B] = [process.env.HTTP_BASE, process.env.PEER_BASE];

async function aliceLinksHomeB(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await signIn(page, A, "alice", "wonderland-1");
  const peer = page.locator('#federations li[data-peer="home-b"]');
  await eventually("the linked homes offer home-b, not linked yet", async () =>
    (await peer.textContent()).includes("not linked"));

  await page.getByRole("button", { name: "Link your account at home-b" }).click();
  await page.waitForURL((url) => url.toString().startsWith(`${B}/oauth/authorize`));
  check("the browser is at home B's consent screen", (await page.textContent("body")).includes("Link Home A"));
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password").fill("wonderland-1");
  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForURL((url) => url.toString().startsWith(A));
  await eventually("back at home A, the link is listed", async () =>
    (await peer.first().textContent()).includes("linked as alice"));
  await eventually("home A says the link was made", async () =>
    (await page.locator("#federations-status").textContent()).startsWith("Linked"));

  const remoteLamp = card(page, "home-b:igrs:lamp-1");
  await eventually("home B's lamp is among alice's devices at A, online", async () =>
    (await remoteLamp.locator(".status").textContent()) === "online");
  const atB = await api(B, "alice", "wonderland-1");
  const before = (await atB("/devices/igrs:lamp-1/properties/on")).value;
  const sw = remoteLamp.getByRole("switch", { name: "on" });
  await eventually("the remote lamp's switch shows B's value", async () => (await sw.isChecked()) === before);
  check("its card says which home it is in", (await remoteLamp.locator(".meta").first().textContent()).includes("at home-b"));
  await sw.click();
  await eventually("switching it at A switched the lamp at B", async () =>
    (await atB("/devices/igrs:lamp-1/properties/on")).value === !before);
  await eventually("live updates are on at A", async () =>
    (await page.locator("#events-state").textContent()) === "Live updates are on.");
  await atB("/devices/igrs:lamp-1/properties/on", "PUT", { value: before });
  await eventually("switched back at B, the lamp shows it at A without a reload (B's webhook)", async () =>
    (await sw.isChecked()) === before);
  await page.screenshot({ path: `${process.env.SCREENSHOTS}/linked-homes.png`, fullPage: true });

  await page.getByRole("button", { name: "Unlink home-b" }).click();
  await eventually("after unlinking, home B's devices are gone from A", async () =>
    (await remoteLamp.count()) === 0);
  await eventually("and home-b is offered again, not linked", async () =>
    (await peer.textContent()).includes("not linked"));
  const atBLinks = await atB("/federations");
  check("home B forgot its half too", JSON.stringify(atBLinks.federations) === "[]", JSON.stringify(atBLinks));
  check("no script errors on the linking page", errors.length === 0, errors.join("; "));
  await context.close();
}

await run(aliceLinksHomeB);
