// The contacts journey of a real user, in French then English, with axe-core on every page.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { checkAccessibility, launchBrowser, startCarnet } from "./helpers.mjs";

let carnet;
let browser;

before(async () => {
  carnet = await startCarnet();
  browser = await launchBrowser("fr-FR");
});

after(async () => {
  await browser?.close();
  carnet?.stop();
});

test("sign in, create Éloïse Lefèvre, find her as 'eloise', edit, trash, restore, switch to English", async () => {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // The wrong password (401) and the invalid form (422) are expected; anything else is not.
  const expected = /status of (401|422) /;
  page.on("console", (m) => m.type() === "error" && !expected.test(m.text()) && errors.push(m.text()));

  await page.goto(`${carnet.url}/contacts`);
  await page.waitForURL(/\/login$/);
  await checkAccessibility(page, assert);
  await page.getByLabel("Adresse e-mail").fill(carnet.email);
  await page.getByLabel("Mot de passe").fill("not-the-password");
  await page.getByRole("button", { name: "Se connecter" }).click();
  await page.getByRole("alert").filter({ hasText: "incorrect" }).waitFor();
  await page.getByLabel("Mot de passe").fill(carnet.password);
  await page.getByRole("button", { name: "Se connecter" }).click();
  await page.waitForURL(/\/contacts$/);
  await page.getByRole("heading", { name: "Contacts" }).waitFor();
  assert.ok((await page.locator("tbody tr").count()) >= 50, "the demo contacts are listed");
  await checkAccessibility(page, assert);

  // Create, with an error first: the form keeps what was typed.
  await page.getByRole("link", { name: "Nouveau contact" }).click();
  await page.getByLabel("Prénom").fill("Éloïse");
  await page.getByLabel("Nom", { exact: true }).fill("Lefèvre");
  await page.getByLabel("E-mail 1").fill("eloise.lefevre@");
  await page.getByRole("button", { name: "Enregistrer" }).click();
  await page.locator("#email_error_1").waitFor();
  assert.equal(await page.getByLabel("Prénom").inputValue(), "Éloïse");
  await checkAccessibility(page, assert);
  await page.getByLabel("E-mail 1").fill("eloise.lefevre@exemple.fr");
  await page.getByRole("button", { name: "Enregistrer" }).click();
  await page.getByRole("heading", { name: "Éloïse Lefèvre" }).waitFor();
  await page.getByRole("status").filter({ hasText: "Contact créé." }).waitFor();
  await checkAccessibility(page, assert);

  // Search as you type, without accents, after focusing the search with "/".
  await page.getByRole("link", { name: "Contacts", exact: true }).click();
  await page.waitForURL(/\/contacts$/);
  await page.locator("body").press("/");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "global-search");
  await page.keyboard.type("eloise");
  const row = page.locator("tbody tr", { hasText: "eloise.lefevre@exemple.fr" });
  await row.waitFor();
  const names = await page.locator("tbody tr td:first-child").allTextContents();
  assert.ok(names.every((n) => n.startsWith("Éloïse")), `only matching contacts: ${names}`);
  assert.match(page.url(), /q=eloise/, "the URL follows the search");
  await checkAccessibility(page, assert);

  // Edit.
  await row.getByRole("link").click();
  await page.getByRole("link", { name: "Modifier" }).click();
  await page.getByLabel("Fonction").fill("Gérante");
  await page.getByRole("button", { name: "Enregistrer" }).click();
  await page.getByRole("status").filter({ hasText: "Modifications enregistrées." }).waitFor();
  await page.getByText("Gérante").waitFor();

  // Delete to the trash, then restore.
  await page.getByRole("button", { name: "Supprimer" }).click();
  await page.getByText("Ce contact est dans la corbeille.").waitFor();
  await checkAccessibility(page, assert);
  await page.getByRole("link", { name: "Corbeille" }).click();
  await page.locator("tbody tr", { hasText: "eloise.lefevre@exemple.fr" }).getByRole("link").click();
  await page.getByRole("button", { name: "Restaurer" }).click();
  await page.getByRole("status").filter({ hasText: "Contact restauré." }).waitFor();
  assert.equal(await page.getByText("Ce contact est dans la corbeille.").count(), 0);

    // Export what the list shows, as CSV for French Excel.
  await page.getByRole("link", { name: "Contacts", exact: true }).click();
  await page.locator("#global-search").fill("lefevre");
  await page.locator("tbody tr", { hasText: "eloise.lefevre@exemple.fr" }).waitFor();
  await page.getByText("Exporter").click();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "CSV pour Excel (point-virgule)" }).click(),
  ]);
  const exported = readFileSync(await download.path(), "utf8");
  assert.ok(exported.startsWith("\ufeffid;first_name;last_name"), exported.slice(0, 80));
  assert.ok(exported.includes("Éloïse;Lefèvre;Gérante"), "the contact, as edited");
  assert.ok(exported.split("\r\n").filter((l) => l).every((l, i) => i === 0 || /lef[eè]vre/i.test(l)), "only the search results");

  // Switch to English: the choice sticks.
    await page.getByRole("button", { name: "English" }).click();
  await page.getByRole("link", { name: "New contact" }).waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "en");
  await page.locator("tbody tr", { hasText: "eloise.lefevre@exemple.fr" }).getByRole("link").click();
  await page.getByRole("link", { name: "Edit" }).waitFor();
  await page.getByRole("heading", { name: "Timeline" }).waitFor();
  await checkAccessibility(page, assert);

  assert.deepEqual(errors, [], "no script or CSP errors in the console");
  await page.close();
});
