// Activities as a user meets them, in English: the demo's activities, a calendar file
// imported from the page (dated 2020, so that it comes first in start order), its report, the
// list with the linked contact, the iCalendar export of what was imported, a call logged
// from the contact's page, changed from its edit page, deleted and restored from the trash.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { checkAccessibility, launchBrowser, startCarnet } from "./helpers.mjs";

let carnet;
let browser;
let dir;

before(async () => {
  carnet = await startCarnet();
  browser = await launchBrowser("en-GB");
  dir = mkdtempSync(join(tmpdir(), "carnet-ics-"));
});

after(async () => {
  await browser?.close();
  carnet?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("import a calendar, read the report, find the activities, export them, log a call", async () => {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // The refused activity form (422) is expected; anything else is not.
  const expected = /status of 422 /;
  page.on("console", (m) => m.type() === "error" && !expected.test(m.text()) && errors.push(m.text()));

  await page.goto(`${carnet.url}/login`);
  await page.getByLabel("E-mail address").fill(carnet.email);
  await page.getByLabel("Password").fill(carnet.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/contacts$/);

  // A demo contact's address, so that the meeting is linked to her.
  const email = (await page.locator("tbody tr td:nth-child(2)").first().textContent()).trim();
  const name = (await page.locator("tbody tr td:first-child").first().textContent()).trim();
  const file = join(dir, "agenda.ics");
  writeFileSync(
    file,
    [
      "BEGIN:VCALENDAR",
      "VERSION:2.0",
      "BEGIN:VEVENT",
      "UID:meeting-1@elsewhere.example",
      "DTSTART:20200101T090000Z",
      "DTEND:20200101T100000Z",
      "SUMMARY:Annual review\\, Lyon",
      `ATTENDEE;CN=Someone:mailto:${email}`,
      "END:VEVENT",
      "BEGIN:VTODO",
      "UID:task-1@elsewhere.example",
      "DTSTART:20200102T090000Z",
      "SUMMARY:Send the quote",
      "STATUS:COMPLETED",
      "END:VTODO",
      "BEGIN:VEVENT",
      "UID:broken-1@elsewhere.example",
      "DTSTART:not-a-date",
      "SUMMARY:Broken",
      "END:VEVENT",
      "END:VCALENDAR",
      "",
    ].join("\r\n"),
  );

  await page.getByRole("link", { name: "Activities" }).click();
  await page.getByRole("heading", { name: "Activities", level: 1 }).waitFor();
  assert.equal(await page.locator("tbody tr").count(), 50, "the demo's activities, a page of them");
  await checkAccessibility(page, assert);
  await page.getByLabel(".ics file").setInputFiles(file);
  await page.getByRole("button", { name: "Import the calendar" }).click();

  await page.getByRole("heading", { name: "Calendar imported" }).waitFor();
  assert.equal(await page.locator("#count-created").textContent(), "2");
  assert.equal(await page.locator("#count-refused").textContent(), "1");
  assert.match(await page.locator("tbody tr").first().textContent(), /16\s*DTSTART/);
  await checkAccessibility(page, assert);

  await page.getByRole("link", { name: "See the activities" }).click();
  const meeting = page.locator("tbody tr", { hasText: "Annual review, Lyon" });
  await meeting.waitFor();
  assert.match(await meeting.textContent(), /Meeting/);
  assert.equal((await meeting.getByRole("link", { name }).textContent()).trim(), name);
  assert.match(await page.locator("tbody tr", { hasText: "Send the quote" }).textContent(), /Task[\s\S]*Yes/);

  // The export link of the list downloads the calendar with the session's cookie.
  await page.getByText("Export", { exact: true }).click();
  const href = await page.getByRole("link", { name: "iCalendar (.ics)" }).getAttribute("href");
  const ics = await page.evaluate(async (url) => (await fetch(url)).text(), href);
  assert.match(ics, /UID:meeting-1@elsewhere\.example\r\n/);
  assert.match(ics, /BEGIN:VTODO[\s\S]*STATUS:COMPLETED/);

  // The contact's page lists the meeting (the export menu closed first: it covers the table).
  await page.getByText("Export", { exact: true }).click();
  await meeting.getByRole("link", { name }).click();
  await page.locator("#contact-activities", { hasText: "Annual review, Lyon" }).waitFor();
  await checkAccessibility(page, assert);

  // Logging a call from the contact's page: refused without a subject, the reason beside it
  // and the time typed kept; then logged, and listed among the contact's activities.
  const contactUrl = page.url();
  await page.getByLabel("Kind").selectOption("call");
  await page.getByLabel("Subject").fill("");
  await page.getByLabel("Starts (UTC)").fill("2020-01-03T10:00");
  await page.getByRole("button", { name: "Log it" }).click();
  await page.locator("#activity-subject-error").waitFor();
  assert.equal(await page.getByLabel("Subject").getAttribute("aria-invalid"), "true");
  assert.equal(await page.getByLabel("Starts (UTC)").inputValue(), "2020-01-03T10:00");
  await checkAccessibility(page, assert);
  await page.getByLabel("Subject").fill("Follow-up call");
  await page.getByLabel("Already done").check();
  await page.getByRole("button", { name: "Log it" }).click();
  await page.waitForURL(`${contactUrl}?done=activity`);
  await page.getByText("Activity logged.").waitFor();
  assert.match(
    await page.locator("#contact-activities li", { hasText: "Follow-up call" }).textContent(),
    /Call[\s\S]*2020-01-03 10:00[\s\S]*Done/,
  );

  // A task still to do offers a button that marks it done.
  await page.getByLabel("Kind").selectOption("task");
  await page.getByLabel("Subject").fill("Send the contract");
  await page.getByRole("button", { name: "Log it" }).click();
  await page.waitForURL(`${contactUrl}?done=activity`);
  await checkAccessibility(page, assert);
  await page.getByRole("button", { name: "Mark done — Send the contract" }).click();
  await page.waitForURL(`${contactUrl}?done=activity_done`);
  await page.getByText("Activity marked done.").waitFor();
  assert.match(
    await page.locator("#contact-activities li", { hasText: "Send the contract" }).textContent(),
    /Task[\s\S]*Done/,
  );

  // The call is changed from its edit page, which shows it as logged.
  await page.getByRole("link", { name: "Edit — Follow-up call", exact: true }).click();
  await page.getByRole("heading", { name: "Follow-up call", level: 1 }).waitFor();
  assert.equal(await page.getByLabel("Starts (UTC)").inputValue(), "2020-01-03T10:00");
  assert.equal(await page.getByLabel("Already done").isChecked(), true);
  await checkAccessibility(page, assert);
  await page.getByLabel("Subject").fill("Follow-up call with the accountant");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(`${contactUrl}?done=activity_saved`);
  await page.getByText("Activity saved.").waitFor();

  // Deleted from its page, it leaves the contact's activities for the trash, whence it is
  // restored.
  const renamed = "Follow-up call with the accountant";
  await page.getByRole("link", { name: `Edit — ${renamed}` }).click();
  await page.getByRole("button", { name: "Delete" }).click();
  await page.waitForURL(`${contactUrl}?done=activity_trashed`);
  await page.getByText("Activity moved to the trash.").waitFor();
  assert.equal(await page.locator("#contact-activities li", { hasText: renamed }).count(), 0);
  await page.getByRole("link", { name: "Activities" }).click();
  await page.locator(".list-tools").getByRole("link", { name: "Trash" }).click();
  await page.getByRole("heading", { name: "Activities in the trash", level: 1 }).waitFor();
  await checkAccessibility(page, assert);
  await page.getByRole("button", { name: `Restore — ${renamed}` }).click();
  await page.waitForURL(`${contactUrl}?done=activity_restored`);
  await page.locator("#contact-activities li", { hasText: renamed }).waitFor();

  assert.deepEqual(errors, [], "no script or CSP errors in the console");
  await page.close();
});
