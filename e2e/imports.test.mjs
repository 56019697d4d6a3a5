// The import wizard as a user meets it: a French Excel file (semicolons, Windows-1252),
// its columns and a live preview, the import followed to its report, the contacts found.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { checkAccessibility, launchBrowser, startCarnet } from "./helpers.mjs";

const fixture = fileURLToPath(
  new URL("../crates/carnet/tests/fixtures/contacts/excel-fr-windows-1252.csv", import.meta.url),
);

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

test("upload a semicolon Windows-1252 file, adjust a column, run, read the report", async () => {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));

  await page.goto(`${carnet.url}/login`);
  await page.getByLabel("Adresse e-mail").fill(carnet.email);
  await page.getByLabel("Mot de passe").fill(carnet.password);
  await page.getByRole("button", { name: "Se connecter" }).click();
  await page.waitForURL(/\/contacts$/);

  // Step 1: the file.
  await page.getByRole("link", { name: "Importer" }).click();
  await page.getByRole("heading", { name: "Importer des contacts" }).waitFor();
  await checkAccessibility(page, assert);
  await page.getByLabel("Fichier").setInputFiles(fixture);
  await page.getByRole("button", { name: "Envoyer et continuer" }).click();

  // Step 2: what was detected, the columns, a preview that follows the mapping.
  await page.waitForURL(/\/imports\/[0-9a-f-]{36}$/);
  const detected = await page.locator("#detected").textContent();
  assert.match(detected, /windows-1252/);
  assert.match(detected, /';'/);
  const preview = page.locator("#preview");
  await preview.getByText("Éloïse Lefèvre").waitFor();
  await preview.getByText("#VIP #Client").waitFor();
  await preview.getByText("Ligne refusée").waitFor();
  assert.equal(await page.locator("th[scope=row]").first().textContent(), "Prénom");
  await checkAccessibility(page, assert);

  await page.getByLabel("Champ : Étiquettes").selectOption("ignore");
  await preview.getByText("#VIP #Client").waitFor({ state: "detached" });
  await page.getByLabel("Champ : Société").selectOption("custom:Société");
  await page.getByLabel("Champ : Étiquettes").selectOption("");
  await preview.getByText("#VIP #Client").waitFor();
  await preview.getByText("Société: Atelier Nord").waitFor();

  // Step 3: run it and follow it to the report.
  await page.getByRole("button", { name: "Lancer l’import" }).click();
  await page.getByRole("heading", { name: "Import" }).waitFor();
  await page.locator(".job-status", { hasText: "Terminé" }).waitFor({ timeout: 30000 });
  assert.equal(await page.locator("#count-rows").textContent(), "4");
  assert.equal(await page.locator("#count-created").textContent(), "3");
  assert.equal(await page.locator("#count-rejected").textContent(), "1");
  const refused = page.locator("tbody tr").first();
  assert.match(await refused.textContent(), /4\s*emails\[0\]\.value/);
  await checkAccessibility(page, assert);

  // The contacts are there, accents intact.
  await page.getByRole("link", { name: "Voir les contacts" }).click();
  await page.locator("#global-search").fill("garcon");
  await page.locator("tbody tr", { hasText: "francois.garcon@exemple.fr" }).waitFor();
  const names = await page.locator("tbody tr td:first-child").allTextContents();
  assert.ok(names.some((n) => n.includes("François Garçon")), `${names}`);

  assert.deepEqual(errors, [], "no script or CSP errors in the console");
  await page.close();
});
