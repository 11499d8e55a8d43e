// The demo page in headless Chromium (Debian's, driven by playwright-core) against the whole
// local stack started by local/dev.sh on free ports: press Talk to agent, check the channel SID
// shown is the one DynamoDB records for the identity shown; reload, press again: reused. And in
// each Flex mode the whole handoff with the agent's page beside the customer's: the task with
// the bot's context, messages both ways, the agent ending the chat, the record closed, a new chat,
// "Your chats" listing both from POST /graphql, and the customer ending the new one; after each
// end the customer rates the chat (shown on the agent's page) and reads its transcript, and an
// open chat or someone else's cannot be rated. Before the
// press, GET /availability's banner: agents available with the wait, no agent (the agent page
// sets both offline), and closed with the next opening (set with the real flex-schedule command).
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

let shared;
let browser;

/** The whole local stack (local/dev.sh) on free ports in `mode`; resolves once it is ready. */
async function startStack(mode) {
  // Prism needs five consecutive ports: take a free one and hope its neighbours are free too;
  // dev.sh refuses clearly if they are not.
  const ports = {
    DEV_PORT: await freePort(),
    DEV_LAMBDA_PORT: await freePort(),
    DEV_DYNAMODB_PORT: await freePort(),
    DEV_TWILIO_PORT: await freePort(),
    DEV_PRISM_PORT: 20000 + Math.floor(Math.random() * 20000),
  };
  const env = { ...process.env, MODE: mode, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) };
  const child = spawn("bash", [path.join(root, "local/dev.sh")], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack not ready after 15 min:\n${log}`)), 15 * 60 * 1000);
    const onData = (chunk) => {
      log += chunk;
      if (/^ready$/m.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`dev.sh exited (${code}):\n${log}`)));
  });
  return {
    ports,
    url: `http://127.0.0.1:${ports.DEV_PORT}`,
    async stop() {
      if (child.exitCode === null) {
        process.kill(-child.pid, "SIGINT");
        await new Promise((resolve) => child.once("exit", resolve));
      }
    },
  };
}

before(async () => {
  shared = await startStack("conversations");
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await shared?.stop();
});

function record(stack, identity, channelSid) {
  const table = readFileSync(path.join(root, "local/dev.env"), "utf8").match(/^CHANNELS_TABLE=(.*)$/m)[1];
  const out = execFileSync("python3", ["-m", "flex_handoff_dev.records",
    `http://127.0.0.1:${stack.ports.DEV_DYNAMODB_PORT}`, table, identity, ...(channelSid ? [channelSid] : [])]);
  return JSON.parse(out);
}

test("Talk to agent opens a chat that DynamoDB records, and reuses it after a reload", async () => {
  const page = await browser.newPage();
  await page.goto(`${shared.url}/`);
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
  assert.match(identity, /^guest-t[0-9]+-[0-9a-f]{32}$/, "a new guest, with when it was made");
  assert.match(channelSid, /^CH[0-9a-fA-F]{32}$/);
  assert.equal(await page.getAttribute("body", "data-reused"), "false");
  const stored = record(shared, identity);
  assert.equal(stored.active.channelSid, channelSid, "the page shows the chat DynamoDB records");
  assert.equal(stored.chat.status, "active");
  await page.waitForFunction(() => /local Twilio/.test(document.getElementById("connection").textContent));

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
  await page.goto(`${shared.url}/`);
  await page.evaluate(() => localStorage.setItem("flex-handoff.token", "forged.token.value"));
  await page.route("**/token", (route) => route.fulfill({
    status: 503, contentType: "application/json",
    body: JSON.stringify({ error: { code: "upstream_unavailable", message: "Twilio is unavailable right now; try again shortly" } }),
  }));
  await page.getByRole("button", { name: "Talk to agent" }).click();
  await page.locator("#error").waitFor({ state: "visible" });
  assert.match(await page.locator("#error").textContent(), /upstream_unavailable/);
});

/** The two pages' screenshots in one image, the customer's left and the agent's right. */
async function sideBySide(mode) {
  const image = (name) => `data:image/png;base64,${readFileSync(path.join(artifacts, `${mode}-${name}.png`)).toString("base64")}`;
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  await page.setContent(`<body style="margin:0;display:flex;align-items:flex-start;background:#eef1f6">
    <img src="${image("customer")}" style="width:50%"><img src="${image("agent")}" style="width:50%"></body>`);
  await page.screenshot({ path: path.join(artifacts, `${mode}-side-by-side.png`), fullPage: true });
  await page.close();
}

const RATE = `mutation($channelSid: ID!, $score: Int!) {
  rateChat(channelSid: $channelSid, score: $score) { rating { score } }
}`;

/** One GraphQL operation as `token`'s caller: the answer's JSON. */
async function gql(stack, token, query, variables) {
  const response = await fetch(`${stack.url}/graphql`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

/** The customer rates the chat that just ended, on the page's prompt. */
async function rate(customer, score, comment) {
  await customer.locator("#after-chat").waitFor({ state: "visible" });
  await customer.getByRole("radio", { name: String(score) }).check();
  await customer.getByLabel("Comment (optional)").fill(comment);
  await customer.getByRole("button", { name: "Send rating" }).click();
  await customer.waitForSelector(`body[data-rated="${score}"]`);
  assert.match(await customer.locator("#rating-result").textContent(), new RegExp(`rated this chat ${score} out of 5`));
}

for (const mode of ["conversations", "interactions", "chat"]) {
  test(`${mode}: the agent gets the bot's context, they chat, the agent ends it, the next press opens a new chat`, async () => {
    const stack = mode === "conversations" ? shared : await startStack(mode);
    try {
      const customer = await browser.newPage();
      const agent = await browser.newPage();
      await customer.goto(`${stack.url}/`);
      await agent.goto(`${stack.url}/agent`);
      await customer.getByRole("textbox", { name: "Message" }).fill("My bill has a roaming charge I don't understand");
      await customer.getByRole("button", { name: "Send" }).click();
      await customer.locator(".message.bot").nth(1).waitFor();
      await customer.getByRole("button", { name: "Talk to agent" }).click();
      await customer.waitForSelector("body[data-channel-sid]");
      assert.equal(await customer.locator("#error").isHidden(), true, await customer.locator("#error").textContent());
      const identity = (await customer.locator("#identity").textContent()).trim();
      const channelSid = await customer.getAttribute("body", "data-channel-sid");

      // The agent's page: the task with what the bot learned, and the bot conversation in order.
      const task = agent.locator(`li.task[data-channel-sid="${channelSid}"]`);
      await task.waitFor();
      assert.equal(await task.locator('[data-fact="Intent"]').textContent(), "roaming");
      assert.equal(await task.locator('[data-fact="topic"]').textContent(), "network");
      assert.match(await task.locator(".history-text").first().textContent(),
        /Customer: My bill has a roaming charge[\s\S]*Bot: /);
      await task.getByRole("button", { name: "Accept" }).click();

      // Messages both ways, through the local Twilio.
      await customer.getByRole("textbox", { name: "Message" }).fill("Hello, is anyone there?");
      await customer.getByRole("button", { name: "Send" }).click();
      await task.locator(".message.received .text", { hasText: "Hello, is anyone there?" }).waitFor();
      await task.getByRole("textbox").fill("Hi, I'm Sam from support. Let me look at that charge.");
      await task.getByRole("button", { name: "Reply" }).click();
      await customer.locator(".message.agent .text", { hasText: "I'm Sam from support" }).waitFor();
      mkdirSync(artifacts, { recursive: true });
      await customer.screenshot({ path: path.join(artifacts, `${mode}-customer.png`), fullPage: true });
      await agent.screenshot({ path: path.join(artifacts, `${mode}-agent.png`), fullPage: true });
      await sideBySide(mode);

      // The agent ends the chat: Flex's way in this mode, the signed webhook, the record closed.
      await task.getByRole("button", { name: "End chat" }).click();
      await customer.waitForSelector(`body[data-chat-ended="${channelSid}"]`);
      const stored = record(stack, identity, channelSid);
      assert.equal(stored.active, null, "no active pointer once the chat ended");
      assert.equal(stored.chat.status, "closed");
      assert.ok(stored.chat.expiresAt > Date.now() / 1000, "the closed record keeps a TTL");
      assert.ok(stored.chat.acceptedAt >= stored.chat.createdAt, "flex-webhook recorded the agent's acceptance");

      // After the agent's end: the customer rates the chat, the agent's page shows it, and the
      // transcript has both sides in order (the server's, from Twilio's messages).
      await rate(customer, 4, "Sam sorted it out");
      await agent.waitForSelector(`li.task[data-channel-sid="${channelSid}"] .rating[data-score="4"]`);
      assert.match(await agent.locator(`li.task[data-channel-sid="${channelSid}"] .rating`).textContent(), /4\/5: “Sam sorted it out”/);
      assert.equal(record(stack, identity, channelSid).chat.rating, 4, "stored on the chat's record");
      await customer.getByRole("button", { name: "Read the transcript" }).click();
      await customer.waitForSelector("body[data-transcript-loaded]");
      const spoken = await customer.locator('#transcript li:not([data-role="BOT"])').evaluateAll(
        (items) => items.map((item) => [item.dataset.role, item.querySelector(".author").textContent, item.querySelector(".text").textContent]));
      assert.deepEqual(spoken, [
        ["CUSTOMER", "You", "Hello, is anyone there?"],
        ["AGENT", "Agent", "Hi, I'm Sam from support. Let me look at that charge."],
      ], "both sides in order, the agent unnamed");
      await customer.screenshot({ path: path.join(artifacts, `${mode}-rated.png`), fullPage: true });
      // Someone else cannot rate it.
      const { token: strangerToken } = await (await fetch(`${stack.url}/token`, { method: "POST" })).json();
      const stranger = await gql(stack, strangerToken, RATE, { channelSid, score: 1 });
      assert.equal(stranger.errors[0].extensions.code, "CHAT_NOT_FOUND");

      await customer.getByRole("button", { name: "Talk to agent" }).click();
      await customer.waitForFunction((old) => document.body.dataset.channelSid !== old && !document.body.dataset.chatEnded, channelSid);
      assert.equal(await customer.getAttribute("body", "data-reused"), "false", "a new chat, not the ended one");

      // Your chats, from POST /graphql: the new chat active above the one the agent ended.
      const newSid = await customer.getAttribute("body", "data-channel-sid");
      await customer.waitForSelector(`#chat-list li[data-channel-sid="${newSid}"][data-status="ACTIVE"]`);
      const listed = await customer.locator("#chat-list li").evaluateAll(
        (items) => items.map((item) => [item.dataset.channelSid, item.dataset.status]));
      assert.deepEqual(listed, [[newSid, "ACTIVE"], [channelSid, "CLOSED"]], "newest first, each with its status");
      assert.equal(await customer.locator("#after-chat").isHidden(), true, "no rating prompt while a chat is open");
      // An open chat cannot be rated.
      const customerToken = await customer.evaluate(() => localStorage.getItem("flex-handoff.token"));
      const early = await gql(stack, customerToken, RATE, { channelSid: newSid, score: 5 });
      assert.equal(early.errors[0].extensions.code, "CHAT_STILL_OPEN");

      // The customer ends this one (endChat): Twilio's side as the mode requires, then the record.
      await customer.getByRole("button", { name: "End chat" }).click();
      await customer.waitForSelector(`body[data-chat-ended="${newSid}"][data-ended-by="you"]`);
      await customer.waitForSelector(`#chat-list li[data-channel-sid="${newSid}"][data-status="CLOSED"]`);
      assert.equal(await customer.locator("#end-chat").isHidden(), true, "nothing left to end");
      assert.equal(await customer.locator("#error").isHidden(), true, await customer.locator("#error").textContent());
      const ended = record(stack, identity, newSid);
      assert.equal(ended.active, null, "the customer's end frees the slot");
      assert.equal(ended.chat.status, "closed");
      assert.ok(ended.chat.expiresAt > Date.now() / 1000, "and keeps the record with a TTL");
      await agent.waitForSelector(`li.task[data-channel-sid="${newSid}"]:not([data-state="active"])`);
      // After the customer's end: rated as well.
      await rate(customer, 2, "");
      await agent.waitForSelector(`li.task[data-channel-sid="${newSid}"] .rating[data-score="2"]`);
      await customer.screenshot({ path: path.join(artifacts, `${mode}-customer-ended.png`), fullPage: true });
      await customer.close();
      await agent.close();
    } finally {
      if (stack !== shared) await stack.stop();
    }
  });
}

/** `flex-schedule`, as the README tells operators to run it, against the stack's table. */
function flexSchedule(stack, args, input) {
  const table = readFileSync(path.join(root, "local/dev.env"), "utf8").match(/^CHANNELS_TABLE=(.*)$/m)[1];
  const target = process.env.CARGO_TARGET_DIR || path.join(root, "target");
  return execFileSync(path.join(target, "debug/flex-schedule"), [...args, "--queue", QUEUE, "--table", table], {
    input,
    env: {
      ...process.env, AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${stack.ports.DEV_DYNAMODB_PORT}`,
      AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "local", AWS_SECRET_ACCESS_KEY: "local",
    },
  }).toString();
}
const QUEUE = readFileSync(path.join(root, "local/dev.env"), "utf8").match(/^TWILIO_TASK_QUEUE_SID=(.*)$/m)[1];

test("before the press the page shows agents available, no agent, and closed with when it opens", async () => {
  const customer = await browser.newPage();
  const agent = await browser.newPage();
  await customer.goto(`${shared.url}/`);
  await agent.goto(`${shared.url}/agent`);
  const banner = customer.locator("#availability");
  // Open: both agents of the local Twilio are available (TaskRouter's statistics, through Prism).
  await customer.waitForSelector('body[data-availability="open"]');
  assert.match(await banner.textContent(), /^2 agents available/);
  // Three more customers' chats, accepted at once: enough recent samples for an estimate (the
  // cumulative window is read again on every sixth refresh, 12 s locally).
  for (let i = 0; i < 3; i++) {
    const { token } = await (await fetch(`${shared.url}/token`, { method: "POST" })).json();
    const opened = await (await fetch(`${shared.url}/channel`, {
      method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{}",
    })).json();
    assert.match(opened.channelSid, /^CH/, JSON.stringify(opened));
    await fetch(`${shared.url}/local-twilio/local/chats/${opened.channelSid}/accept`, { method: "POST" });
  }
  await customer.waitForFunction(() => /^2 agents available, about 1 min$/.test(document.getElementById("availability").textContent),
    null, { timeout: 30000 });
  await customer.screenshot({ path: path.join(artifacts, "availability-open.png"), fullPage: true });
  assert.equal(await customer.getByRole("button", { name: "Talk to agent" }).isDisabled(), false);

  // No agent: both go offline on the agent page; the customer's page follows within its polls.
  for (const name of ["Alex", "Sam"]) {
    await agent.getByRole("button", { name: `Set ${name} offline` }).click();
    await agent.waitForSelector(`li[data-worker="${name}"][data-available="false"]`);
  }
  await customer.waitForSelector('body[data-availability="no-agents"]', { timeout: 20000 });
  assert.match(await banner.textContent(), /No agent is available right now/);
  await customer.screenshot({ path: path.join(artifacts, "availability-no-agent.png"), fullPage: true });
  for (const name of ["Alex", "Sam"]) {
    await agent.getByRole("button", { name: `Set ${name} available` }).click();
  }
  await customer.waitForSelector('body[data-availability="open"]', { timeout: 20000 });

  // Closed: the only opening is 08:00-09:00 (UTC) three days ahead.
  const day = new Date(Date.now() + 3 * 86400 * 1000);
  const weekday = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"][day.getUTCDay()];
  const longName = day.toLocaleDateString("en-GB", { weekday: "long", timeZone: "UTC" });
  const said = flexSchedule(shared, ["set", "-"], JSON.stringify({ timeZone: "UTC", weekly: { [weekday]: ["08:00-09:00"] } }));
  assert.match(said, /stored the schedule/);
  await customer.waitForSelector('body[data-availability="closed"]', { timeout: 20000 });
  assert.equal(await banner.textContent(), `We're closed; back ${longName} 08:00`);
  assert.equal(await customer.getByRole("button", { name: "Talk to agent" }).isDisabled(), true);
  await customer.screenshot({ path: path.join(artifacts, "availability-closed.png"), fullPage: true });

  // The operators' switch, with its message; then the schedule removed: open again.
  flexSchedule(shared, ["close", "--message", "Back after the team event"]);
  await customer.waitForFunction(() => /Back after the team event/.test(document.getElementById("availability").textContent),
    null, { timeout: 20000 });
  flexSchedule(shared, ["delete"]);
  await customer.waitForSelector('body[data-availability="open"]', { timeout: 20000 });
  await customer.close();
  await agent.close();
});
