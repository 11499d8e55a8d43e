// The demo page in headless Chromium (Debian's, driven by playwright-core) against the whole
// local stack started by local/dev.sh on free ports: press Talk to agent, check the channel SID
// shown is the one DynamoDB records for the identity shown; reload, press again: reused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { mkdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(root, "tools/npm/package.json"));
const { chromium } = require("playwright-core");
const artifacts = path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "e2e");

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

let stack;
let stackLog = "";
let ports;
let browser;

before(async () => {
  // Prism needs five consecutive ports: take a free one and hope its neighbours are free too;
  // dev.sh refuses clearly if they are not.
  ports = {
    DEV_PORT: await freePort(),
    DEV_LAMBDA_PORT: await freePort(),
    DEV_DYNAMODB_PORT: await freePort(),
    DEV_TWILIO_PORT: await freePort(),
    DEV_PRISM_PORT: 20000 + Math.floor(Math.random() * 20000),
  };
  const env = { ...process.env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) };
  stack = spawn("bash", [path.join(root, "local/dev.sh")], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack not ready after 15 min:\n${stackLog}`)), 15 * 60 * 1000);
    const onData = (chunk) => {
      stackLog += chunk;
      if (/^ready$/m.test(stackLog)) {
        clearTimeout(timer);
        resolve();
      }
    };
    stack.stdout.on("data", onData);
    stack.stderr.on("data", onData);
    stack.on("exit", (code) => reject(new Error(`dev.sh exited (${code}):\n${stackLog}`)));
  });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  if (stack && stack.exitCode === null) {
    process.kill(-stack.pid, "SIGINT");
    await new Promise((resolve) => stack.once("exit", resolve));
  }
});

function record(identity) {
  const table = readFileSync(path.join(root, "local/dev.env"), "utf8").match(/^CHANNELS_TABLE=(.*)$/m)[1];
  const out = execFileSync("python3", [path.join(root, "local/records.py"),
    `http://127.0.0.1:${ports.DEV_DYNAMODB_PORT}`, table, identity]);
  return JSON.parse(out);
}

test("Talk to agent opens a chat that DynamoDB records, and reuses it after a reload", async () => {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${ports.DEV_PORT}/`);
  // A word with the bot first: its transcript and the intent it detected go with the handoff.
  await page.getByRole("textbox", { name: "Message" }).fill("My roaming stopped working in Spain");
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator(".message.bot").nth(1).waitFor();
  assert.match(await page.locator(".message.bot .text").last().textContent(), /roaming/);
  await page.getByRole("button", { name: "Talk to agent" }).click();
  await page.waitForSelector("body[data-channel-sid]");
  assert.equal(await page.locator("#error").isHidden(), true, await page.locator("#error").textContent());
  assert.equal(await page.getAttribute("body", "data-context-delivered"), "true",
    "the bot conversation was posted into the chat (Prism checked each request against Twilio's spec)");
  assert.match(await page.locator("#channel-status").textContent(), /the agent has your conversation/);

  const identity = (await page.locator("#identity").textContent()).trim();
  const channelSid = (await page.locator("#channel-sid").textContent()).trim();
  assert.match(identity, /^guest-[0-9a-f-]{36}$/);
  assert.match(channelSid, /^CH[0-9a-fA-F]{32}$/);
  assert.equal(await page.getAttribute("body", "data-reused"), "false");
  const stored = record(identity);
  assert.equal(stored.active.channelSid, channelSid, "the page shows the chat DynamoDB records");
  assert.equal(stored.chat.status, "active");
  assert.match(await page.locator("#connection").textContent(), /mock of Twilio/);

  await page.getByRole("textbox", { name: "Message" }).fill("Hello, my roaming is broken");
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator(".message.sent").last().waitFor();
  assert.match(await page.locator(".message.sent .status").last().textContent(), /not connected to Twilio/);

  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, "talk-to-agent.png"), fullPage: true });

  await page.reload();
  await page.getByRole("button", { name: "Talk to agent" }).click();
  await page.waitForSelector("body[data-channel-sid]");
  assert.equal(await page.getAttribute("body", "data-reused"), "true");
  assert.equal((await page.locator("#channel-sid").textContent()).trim(), channelSid);
  assert.equal((await page.locator("#identity").textContent()).trim(), identity, "the stored guest token was refreshed");
  await page.screenshot({ path: path.join(artifacts, "reused-after-reload.png"), fullPage: true });
});

test("the API's errors are shown, not swallowed", async () => {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${ports.DEV_PORT}/`);
  await page.evaluate(() => localStorage.setItem("flex-handoff.token", "forged.token.value"));
  await page.route("**/token", (route) => route.fulfill({
    status: 503, contentType: "application/json",
    body: JSON.stringify({ error: { code: "upstream_unavailable", message: "Twilio is unavailable right now; try again shortly" } }),
  }));
  await page.getByRole("button", { name: "Talk to agent" }).click();
  await page.locator("#error").waitFor({ state: "visible" });
  assert.match(await page.locator("#error").textContent(), /upstream_unavailable/);
});
