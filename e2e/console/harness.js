// What the console's browser scenarios share: PASS/FAIL checks, waiting for a condition, the
// CUI called directly, signing in through the page, and launching Debian's chromium.

import { chromium } from "playwright-core";

export const WAIT = 20_000;
let failures = 0;

export function check(name, ok, why = "") {
  if (ok) console.log(`PASS ${name}`);
  else {
    failures += 1;
    console.log(`FAIL ${name}: ${why}`);
  }
}

/** Waits for `fn` to hold (or throw-free truth) before the deadline; records the check. */
export async function eventually(name, fn) {
  const deadline = Date.now() + WAIT;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const got = await fn();
      if (got === true) return check(name, true);
      last = JSON.stringify(got);
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  check(name, false, last);
}

/** The CUI at `base` called directly, with its own token: the console's effects seen through the API. */
export async function api(base, user, password) {
  const signIn = await fetch(`${base}/cui/v1/sign-in`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: user, password }),
  });
  const { token } = await signIn.json();
  return async (path, method = "GET", body = undefined) => {
    const r = await fetch(`${base}/cui/v1/users/${user}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return r.json();
  };
}

export async function signIn(page, base, user, password) {
  await page.goto(base);
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Your devices" }).waitFor({ timeout: WAIT });
}

export const card = (page, id) => page.locator(`li[data-device="${id}"]`);

/** Script errors of a page: refused API calls log "Failed to load resource" by design; anything
 * else (a CSP refusal, an exception) is a fault. */
export function collectErrors(page) {
  const errors = [];
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  return errors;
}

/** Runs the scenarios in one headless chromium and exits 1 if any check failed. */
export async function run(...scenarios) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  try {
    for (const scenario of scenarios) await scenario(browser);
  } catch (e) {
    check("scenario completed", false, e.stack ?? String(e));
  } finally {
    await browser.close();
  }
  if (failures > 0) console.log(`${failures} check(s) failed`);
  process.exit(failures > 0 ? 1 : 0);
}
