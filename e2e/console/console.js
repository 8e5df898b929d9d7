// The web console in headless Chromium (playwright-core driving Debian's chromium), against a
// `hestia serve --demo` that crates/hestia/tests/e2e_console.rs started. HTTP_BASE is its
// console; CHROMIUM the browser; SCREENSHOTS a directory for screenshots (gitignored).
// Each check prints PASS or FAIL; any FAIL exits 1.

import { api as cui, card, check, collectErrors, eventually, run, signIn as signInAt } from "./harness.js";

const BASE = process.env.HTTP_BASE;
const api = (user, password) => cui(BASE, user, password);
const signIn = (page, user, password) => signInAt(page, BASE, user, password);

async function asAlice(browser) {
  // Phone width: the console must work there.
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const errors = collectErrors(page);

  const response = await page.goto(BASE);
  const csp = response.headers()["content-security-policy"] ?? "";
  check("the console is served with a strict CSP", csp.includes("script-src 'self'") && !csp.includes("unsafe"), csp);

  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => document.activeElement.textContent);
  await page.keyboard.press("Tab");
  const second = await page.evaluate(() => document.activeElement.id);
  check("the keyboard reaches the skip link, then the username", first === "Skip to content" && second === "username",
    `${first}, ${second}`);
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password").fill("wrong-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await eventually("a wrong password is refused with the CUI's message", async () =>
    (await page.getByRole("alert").first().textContent()).includes("wrong username or password"));

  await signIn(page, "alice", "wonderland-1");
  check("the token is kept in sessionStorage", await page.evaluate(() =>
    JSON.parse(sessionStorage.getItem("hestia.session") ?? "{}").userId === "alice" && document.cookie === ""));
  const lamp = card(page, "igrs:lamp-1");
  await eventually("alice sees the lamp online", async () =>
    (await lamp.locator(".status").textContent()) === "online");
  const noScroll = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  check("no horizontal scrolling at phone width", noScroll);

  const sw = lamp.getByRole("switch", { name: "on" });
  await eventually("the lamp's switch shows its value (off)", async () =>
    (await lamp.locator(".prop").first().getAttribute("data-current")) === "false");
  await sw.focus();
  await page.keyboard.press("Space");
  await eventually("switching the lamp on shows it on", async () => await sw.isChecked());
  const alice = await api("alice", "wonderland-1");
  await eventually("the lamp is on through the API too", async () =>
    (await alice("/devices/igrs:lamp-1/properties/on")).value === true);

  await eventually("live updates are connected", async () =>
    (await page.locator("#events-state").textContent()) === "Live updates are on.");
  await alice("/devices/igrs:lamp-1/properties/on", "PUT", { value: false });
  await eventually("the lamp switched off elsewhere shows off without a reload", async () => !(await sw.isChecked()));
  await eventually("the camera's motion appears in the events list without a reload", async () =>
    (await page.locator("#events li[data-event=motion]").count()) > 0 &&
    (await page.locator("#events li").first().textContent()).includes("camera-motion-1: motion"));
  await eventually("the thermostat shows a chart of its temperature", async () =>
    ((await card(page, "igrs:thermostat-1").locator("svg.chart").getAttribute("aria-label")) ?? "")
      .startsWith("temperature over the last"));

  const thermostat = card(page, "igrs:thermostat-1");
  await thermostat.getByLabel("setpoint (°C)").fill("99");
  await thermostat.getByRole("button", { name: "Set" }).first().click();
  await eventually("an out-of-range setpoint shows the CUI's message", async () =>
    (await thermostat.locator(".error").first().textContent()).includes("out of range"));

  const plug = card(page, "igrs:plug-1");
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await plug.getByRole("switch", { name: "on" }).click();
  await eventually("a property needing confirmation asks first", async () => asked.includes("Set on of plug-1"));
  await eventually("a dismissed confirmation leaves the plug on", async () =>
    (await alice("/devices/igrs:plug-1/properties/on")).value === true &&
    (await plug.getByRole("switch", { name: "on" }).isChecked()));
  page.once("dialog", (d) => d.accept());
  await plug.getByRole("switch", { name: "on" }).click();
  await eventually("an accepted confirmation switches the plug off (the console sends confirmed)", async () =>
    (await alice("/devices/igrs:plug-1/properties/on")).value === false);
  const unconfirmed = await fetch(`${BASE}/cui/v1/users/alice/devices/igrs:plug-1/properties/on`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${await page.evaluate(() => JSON.parse(sessionStorage.getItem("hestia.session")).token)}`, "Content-Type": "application/json" },
    body: JSON.stringify({ value: true }),
  });
  check("the API refuses the plug's switch without confirmation", unconfirmed.status === 428, `status ${unconfirmed.status}`);

  await lamp.getByText("Sharing and verification code").click();
  await eventually("the lamp's sharing lists bob's request", async () =>
    (await lamp.locator(".shares").allTextContents()).join(" ").includes("bob asks for control"));
  await lamp.getByRole("button", { name: "Share with bob at view" }).click();
  await eventually("after sharing, bob is listed with view", async () =>
    (await lamp.locator(".shares").first().textContent()).includes("bob — view"));

  const camera = card(page, "igrs:camera-motion-1");
  await camera.getByText("Sharing and verification code").click();
  await camera.getByLabel("User").fill("bob");
  await camera.getByRole("button", { name: "Share", exact: true }).click();
  await eventually("sharing with a user who has not asked is refused, with the reason", async () =>
    (await camera.locator("details .error").textContent()).includes("has not asked"));

  await lamp.getByRole("button", { name: "Reset verification code" }).click();
  await eventually("a code reset shows the new code", async () =>
    /^\d{8}$/.test(await lamp.locator("output.code").textContent()));

  await page.screenshot({ path: `${process.env.SCREENSHOTS}/alice-phone.png`, fullPage: true });
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("hestia.session")).token);
  await page.getByRole("button", { name: "Sign out" }).click();
  await eventually("signing out forgets the token", async () =>
    (await page.evaluate(() => sessionStorage.getItem("hestia.session"))) === null &&
    (await page.getByLabel("Username").isVisible()));
  const after = await page.evaluate(async (t) =>
    (await fetch("/cui/v1/users/alice/devices", { headers: { Authorization: `Bearer ${t}` } })).status, token);
  check("the server refuses the signed-out token", after === 401, `status ${after}`);
  check("no script errors on alice's page", errors.length === 0, errors.join("; "));
  await context.close();
}

async function asBob(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await signIn(page, "bob", "builder-123");
  const lamp = card(page, "igrs:lamp-1");
  await eventually("bob sees the shared lamp, with view", async () =>
    (await lamp.locator(".meta").first().textContent()).includes("your right: view"));
  check("bob sees only the lamp", (await page.locator("li.device").count()) === 1);
  check("bob's view right offers no switch", (await lamp.getByRole("switch").count()) === 0);
  await eventually("bob reads the lamp off, as alice left it", async () =>
    (await lamp.locator("output").first().textContent()) === "off");
  await page.getByLabel("Device id").fill("igrs:thermostat-1");
  await page.getByRole("button", { name: "Ask", exact: true }).click();
  await eventually("bob asks for the thermostat from the console", async () =>
    (await page.locator("#ask-result").textContent()).includes("Asked for igrs:thermostat-1"));
  const alice = await api("alice", "wonderland-1");
  await eventually("alice, the owner, has bob's request", async () =>
    JSON.stringify((await alice("/devices/igrs:thermostat-1/shares")).requests) ===
      JSON.stringify([{ userId: "bob", right: "view" }]));
  await page.screenshot({ path: `${process.env.SCREENSHOTS}/bob-desktop.png`, fullPage: true });
  await context.close();
}

await run(asAlice, asBob);
