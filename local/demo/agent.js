// What an agent sees of a handoff in Flex, from the local Twilio (`make dev`): each task with
// the customer's name, the routing attributes and the bot's findings, the bot transcript as the
// history messages put it into the chat, the live messages; Accept, Reply and End chat. Above
// them the agents (TaskRouter workers), each set available or offline: what the customer's page
// reads as "agents available".
"use strict";

const base = "/local-twilio/local";
const $ = (id) => document.getElementById(id);
const drafts = {};

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// The bot context rides on the task: as `context` (interactions) or inside
// `pre_engagement_data` (Flex's web chat orchestration and legacy channels).
function contextOf(task) {
  const attributes = (task && task.attributes) || {};
  return attributes.context || (attributes.pre_engagement_data || {}).context || {};
}

async function act(sid, action, form) {
  await fetch(`${base}/chats/${sid}/${action}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form || {}),
  });
  await refresh(true);
}

function facts(context) {
  const list = el("dl", { className: "details" });
  const add = (name, value) => {
    if (value === undefined || value === "") return;
    list.append(el("dt", {}, name), el("dd", { "data-fact": name }, String(value)));
  };
  add("Intent", context.intent);
  add("Locale", context.locale);
  add("Summary", context.summary);
  for (const [key, value] of Object.entries(context.attributes || {})) add(key, value);
  return list;
}

function render(chat) {
  const context = contextOf(chat.task);
  const history = chat.messages.filter((m) => m.author === "bot-transcript");
  const live = chat.messages.filter((m) => m.author !== "bot-transcript");
  const item = el("li", { className: `task ${chat.state}`, "data-channel-sid": chat.channelSid, "data-state": chat.state });
  item.append(
    el("h2", {}, `${chat.customer} `, el("small", {}, `${chat.mode} · ${chat.state}${chat.accepted ? " · accepted" : ""}`)),
    facts(context),
    el("details", { className: "history", open: true },
      el("summary", {}, "Conversation with the bot"),
      ...history.map((m) => el("pre", { className: "history-text" }, m.body))),
    el("ol", { className: "messages", "aria-label": "Chat" },
      ...live.map((m) => el("li", { className: `message ${m.author === "agent" ? "sent" : "received"}` },
        el("span", { className: "author" }, m.author === "agent" ? "You" : chat.customer),
        el("span", { className: "text" }, m.body)))),
  );
  if (chat.rating) {
    const comment = chat.rating.comment ? `: “${chat.rating.comment}”` : "";
    item.append(el("p", { className: "rating", "data-score": String(chat.rating.score) },
      `Customer's rating: ${chat.rating.score}/5${comment}`));
  }
  if (chat.state === "active") {
    const input = el("input", { name: "reply", placeholder: "Reply to the customer", value: drafts[chat.channelSid] || "" });
    input.setAttribute("aria-label", `Reply to ${chat.customer}`);
    input.addEventListener("input", () => { drafts[chat.channelSid] = input.value; });
    const form = el("form", { className: "composer" }, input, el("button", { type: "submit" }, "Reply"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = input.value.trim();
      delete drafts[chat.channelSid];
      if (body) act(chat.channelSid, "messages", { Body: body });
    });
    const accept = el("button", { type: "button", disabled: chat.accepted }, chat.accepted ? "Accepted" : "Accept");
    accept.addEventListener("click", () => act(chat.channelSid, "accept"));
    const end = el("button", { type: "button", className: "end" }, "End chat");
    end.addEventListener("click", () => act(chat.channelSid, "end"));
    item.append(el("div", { className: "actions" }, accept, end), form);
  }
  return item;
}

function renderWorker(worker) {
  const next = worker.available ? "offline" : "available";
  const toggle = el("button", { type: "button" }, worker.available ? "Go offline" : "Go available");
  toggle.setAttribute("aria-label", `Set ${worker.name} ${next}`);
  toggle.addEventListener("click", async () => {
    await fetch(`${base}/workers/${encodeURIComponent(worker.name)}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ Activity: next }),
    });
    await refresh(true);
  });
  return el("li", { "data-worker": worker.name, "data-available": String(worker.available) },
    el("span", {}, worker.name), el("span", { className: "activity" }, worker.available ? "available" : "offline"), toggle);
}

// The periodic redraw waits while the agent types a reply; an action redraws at once.
async function refresh(now) {
  try {
    const { workers } = await fetch(`${base}/workers`).then((r) => r.json());
    $("workers").replaceChildren(...workers.map(renderWorker));
    const { tasks } = await fetch(`${base}/tasks`).then((r) => r.json());
    const typing = document.activeElement && document.activeElement.closest(".task form");
    if (typing && !now) return;
    const ordered = [...tasks].sort((a, b) => (a.state === "active" ? 0 : 1) - (b.state === "active" ? 0 : 1));
    $("tasks").replaceChildren(...ordered.map(render));
    const waiting = tasks.filter((t) => t.state === "active").length;
    $("agent-status").textContent = waiting ? `${waiting} open chat${waiting > 1 ? "s" : ""}` : "Waiting for tasks…";
  } catch (error) {
    $("agent-status").textContent = `The local Twilio cannot be reached (${error.message}).`;
  }
}

refresh(true);
setInterval(() => refresh(false), 700);
