// Shared helpers for Carnet's browser tests: start the real server, launch Chromium, run axe.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/** Starts `carnet serve --demo` on a fresh data directory; resolves with its URL and login. */
export async function startCarnet() {
  const bin = process.env.CARNET_TEST_BIN ?? new URL("../target/debug/carnet", import.meta.url).pathname;
  const dataDir = mkdtempSync(join(tmpdir(), "carnet-e2e-"));
  const child = spawn(bin, ["--data-dir", dataDir, "serve", "--demo", "--listen", "127.0.0.1:0"], {
    env: { ...process.env, CARNET_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`carnet did not start: ${out}`)), 30000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("ready at")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => reject(new Error(`carnet exited with ${code}: ${out}`)));
  });
  const url = out.match(/ready at (http:\/\/\S+?)\/? /)[1];
  const email = out.match(/e-mail:\s+(\S+)/)[1];
  const password = out.match(/password:\s+(\S+)/)[1];
  return {
    url,
    email,
    password,
    stop() {
      child.kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Headless Debian Chromium with a fresh profile and no background networking. */
export async function launchBrowser(locale) {
  const profile = mkdtempSync(join(tmpdir(), "carnet-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    locale,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Runs axe-core on the page; fails on any serious or critical violation. */
export async function checkAccessibility(page, assert) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const summary = bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  assert.deepEqual(summary, [], `accessibility violations on ${page.url()}`);
}

/** Starts `carnet-status` with a TOML configuration (`{dir}` is replaced by its data dir). */
export async function startStatus(config) {
  const carnetBin = process.env.CARNET_TEST_BIN ?? new URL("../target/debug/carnet", import.meta.url).pathname;
  const bin = join(carnetBin, "..", "carnet-status");
  const dir = mkdtempSync(join(tmpdir(), "carnet-status-e2e-"));
  const path = join(dir, "status.toml");
  writeFileSync(path, config.replaceAll("{dir}", join(dir, "data")));
  const child = spawn(bin, ["--config", path, "--listen", "127.0.0.1:0"], {
    env: { ...process.env, CARNET_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`carnet-status did not start: ${out}`)), 30000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("ready at")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => reject(new Error(`carnet-status exited with ${code}: ${out}`)));
  });
  const url = out.match(/ready at (http:\/\/\S+?)\/?\s/)[1];
  return {
    url,
    stop() {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
