// The public status page as customers see it, in French and English, before and during an
// outage of Carnet; axe-core on each view.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { checkAccessibility, launchBrowser, startCarnet, startStatus } from "./helpers.mjs";

let carnet;
let status;
let browser;

before(async () => {
  carnet = await startCarnet();
  status = await startStatus(`
title = "Carnet Cloud"
data_dir = "{dir}"

[[components]]
id = "app"
name = "Application Carnet"
group = "Carnet"

[[probes]]
component = "app"
url = "${carnet.url}/readyz"
interval_secs = 1
timeout_ms = 500
failures_to_open = 2
successes_to_resolve = 1
`);
  browser = await launchBrowser("fr-FR");
});

after(async () => {
  await browser?.close();
  status?.stop();
  carnet?.stop();
});

/** Reloads until `text` is on the page (the page has no script: it is reloaded, not polled). */
async function reloadUntil(page, text, seconds) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    if ((await page.getByText(text).count()) > 0) return;
    assert.ok(Date.now() < deadline, `"${text}" did not appear within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 300));
    await page.reload();
  }
}

test("the status page in French and English, then during an outage", async () => {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(`${status.url}/`);
  await reloadUntil(page, "Tous les services fonctionnent", 10);
  await page.getByRole("heading", { name: "Carnet Cloud — État des services" }).waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "fr");
  await page.getByText("Opérationnel").waitFor();
  assert.equal(await page.locator("script").count(), 0, "no JavaScript");
  await checkAccessibility(page, assert);

  await page.getByRole("link", { name: "English" }).click();
  await page.getByText("All systems operational").waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "en");
  await page.getByRole("heading", { name: "Incident history" }).waitFor();
  await checkAccessibility(page, assert);

  carnet.stop();
  await reloadUntil(page, "Major outage", 10);
  await page.getByRole("heading", { name: "Active incidents" }).waitFor();
  await page.getByText("Application Carnet is not answering").first().waitFor();
  await checkAccessibility(page, assert);
  await page.goto(`${status.url}/?lang=fr`);
  await page.getByText("Panne majeure").first().waitFor();
  await page.getByRole("heading", { name: "Incidents en cours" }).waitFor();

  assert.deepEqual(errors, []);
  await page.close();
});
