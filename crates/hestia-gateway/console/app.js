// The console's entry: sign-in, the device list, sign-out. See view.js for the cards and
// api.js for the CUI calls.

import * as api from "./api.js";
import { announce, deviceCard, loadValues } from "./view.js";

const $ = (id) => document.getElementById(id);

function show(signedIn) {
  $("sign-in-view").hidden = signedIn;
  $("devices-view").hidden = !signedIn;
  $("who").hidden = !signedIn;
  if (signedIn) $("who-name").textContent = api.session().userId;
}

async function loadDevices() {
  const list = $("devices");
  list.setAttribute("aria-busy", "true");
  try {
    const { devices } = await api.devices();
    const cards = devices.map((d) => [deviceCard(d), d]);
    list.replaceChildren(...cards.map(([card]) => card));
    $("devices-empty").hidden = devices.length > 0;
    await Promise.all(cards.map(([card, d]) => loadValues(card, d)));
    announce(`${devices.length} devices loaded`);
  } catch (e) {
    if (e.status === 401) return signOut(e.message);
    list.replaceChildren();
    $("devices-empty").hidden = false;
    $("devices-empty").textContent = `Could not load your devices: ${e.message}`;
  } finally {
    list.removeAttribute("aria-busy");
  }
}

function signOut(reason) {
  api.forget();
  $("devices").replaceChildren();
  show(false);
  $("sign-in-error").textContent = reason ?? "";
  $("username").focus();
}

$("sign-in").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("sign-in-error").textContent = "";
  try {
    await api.signIn($("username").value.trim(), $("password").value);
    $("password").value = "";
    show(true);
    $("main").focus();
    await loadDevices();
  } catch (e) {
    $("sign-in-error").textContent = e.message;
  }
});
$("sign-out").addEventListener("click", () => signOut());
$("refresh").addEventListener("click", loadDevices);

if (api.session()) {
  show(true);
  loadDevices();
} else {
  show(false);
}
