// The "Talk to agent" flow of the telecom web app, against flex-handoff's API:
// POST /token (the server decides who we are), POST /channel (open or reuse the Flex chat),
// then the chat itself through transport.js (Twilio's SDK, or the local Twilio under make dev).
// POST /graphql lists the customer's chats ("Your chats") and ends the open one ("End chat");
// once a chat has ended, whoever ended it, the customer rates it and can read its transcript.
// GET /availability says, before the press, whether the team is open, who is there and how long
// the wait is likely to be; the page polls it (every 10 s, as the API asks).
"use strict";

const api = window.FLEX_HANDOFF_API || "";
const TOKEN_KEY = "flex-handoff.token";
const $ = (id) => document.getElementById(id);

let identity = null;
let chatTransport = null;
// The last token /token handed out: GraphQL asks as the same caller.
let currentToken = null;
// While the customer's own End chat is under way, the transport seeing the chat close is that.
let endingChat = false;
// What the demo bot saw, handed to the agent as context.transcript when the customer asks
// for a person (oldest first, as the API wants it).
const transcript = [];
const greeting = document.querySelector(".message.bot .text");
if (greeting) transcript.push({ author: "bot", body: greeting.textContent, at: new Date().toISOString() });

// The demo bot's "intent detection": a keyword per topic, enough to show routing by intent.
const INTENTS = [
  [/roam|abroad|travel/i, "roaming", "network"],
  [/bill|charge|invoice|pay/i, "billing_question", "billing"],
  [/data|signal|network|coverage/i, "network_issue", "network"],
  [/upgrade|plan|phone|offer/i, "sales_upgrade", "sales"],
];

function detectedIntent() {
  const said = transcript.filter((m) => m.author === "customer").map((m) => m.body).join(" ");
  const found = INTENTS.find(([pattern]) => pattern.test(said));
  return found ? { intent: found[1], topic: found[2] } : { intent: "talk_to_agent", topic: "general" };
}

function botContext() {
  const { intent, topic } = detectedIntent();
  const said = transcript.filter((m) => m.author === "customer").map((m) => m.body);
  const context = {
    intent,
    attributes: { source: "demo page", topic },
    transcript: transcript.slice(-50),
  };
  if (said.length) context.summary = `Customer said: ${said.join(" / ")}`.slice(0, 1024);
  try {
    if (navigator.language) context.locale = navigator.language;
  } catch (_) {
    /* no locale: Flex routes without it */
  }
  return context;
}

function addMessage(kind, author, text, status) {
  const item = document.createElement("li");
  item.className = `message ${kind}`;
  const who = document.createElement("span");
  who.className = "author";
  who.textContent = author;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.append(who, body);
  if (status) {
    const note = document.createElement("span");
    note.className = "status";
    note.textContent = status;
    item.append(note);
  }
  $("messages").append(item);
  return item;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function post(path, token, body) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`${api}${path}`, { method: "POST", headers, body: JSON.stringify(body || {}) });
  } catch (error) {
    throw new Error(`The chat service cannot be reached (${error.message}).`);
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${response.status}`;
    const failure = new Error(`${path} failed: ${detail}`);
    failure.code = data.error && data.error.code;
    throw failure;
  }
  return data;
}

// A stored guest token is refreshed (same identity); an expired or foreign one is dropped.
async function getToken() {
  const stored = localStorage.getItem(TOKEN_KEY);
  try {
    const minted = await post("/token", stored);
    localStorage.setItem(TOKEN_KEY, minted.token);
    currentToken = minted.token;
    return minted;
  } catch (error) {
    if (stored && error.code === "invalid_token") {
      localStorage.removeItem(TOKEN_KEY);
      return getToken();
    }
    throw error;
  }
}

const MY_CHATS = `query MyChats {
  me {
    activeChat { channelSid }
    chats(first: 10) { edges { node { channelSid mode status createdAt closedAt } } pageInfo { hasNextPage } }
  }
}`;
const END_CHAT = `mutation EndChat($channelSid: ID!) {
  endChat(channelSid: $channelSid) { channelSid status closedAt }
}`;

const RATE_CHAT = `mutation RateChat($channelSid: ID!, $score: Int!, $comment: String) {
  rateChat(channelSid: $channelSid, score: $score, comment: $comment) { channelSid rating { score comment } }
}`;
const TRANSCRIPT = `query Transcript($channelSid: ID!, $after: String) {
  chat(channelSid: $channelSid) {
    messages(first: 20, after: $after) { nodes { author role body at } pageInfo { hasNextPage endCursor } }
  }
}`;

// One GraphQL operation; its first error (GraphQL's shape: extensions.code) becomes the thrown one.
async function graphql(token, query, variables) {
  let response;
  try {
    response = await fetch(`${api}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables: variables || {} }),
    });
  } catch (error) {
    throw new Error(`The chat service cannot be reached (${error.message}).`);
  }
  const answer = await response.json().catch(() => ({}));
  const first = (answer.errors || [])[0];
  if (first || !response.ok) {
    const code = first && first.extensions ? first.extensions.code : `HTTP ${response.status}`;
    const failure = new Error(`/graphql failed: ${code}: ${first ? first.message : "no answer"}`);
    failure.code = code;
    throw failure;
  }
  return answer.data;
}

// "2 agents available, about 1–3 min", "No agent is available right now", "We're closed; back
// Monday 08:00" (the team's local time, from the schedule's time zone).
function describeAvailability(a) {
  if (!a.open) {
    if (a.message) return { state: "closed", text: `We're closed: ${a.message}` };
    if (!a.nextOpenAt) return { state: "closed", text: "We're closed." };
    const back = new Intl.DateTimeFormat("en-GB", {
      weekday: "long", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: a.timeZone,
    }).format(new Date(a.nextOpenAt)).replace(" at ", " ");
    return { state: "closed", text: `We're closed; back ${back}` };
  }
  if (a.agentsAvailable === 0) {
    return { state: "no-agents", text: "No agent is available right now; your chat would wait in the queue." };
  }
  if (a.agentsAvailable === null) return { state: "open", text: "We're open." };
  const agents = `${a.agentsAvailable} agent${a.agentsAvailable === 1 ? "" : "s"} available`;
  const range = a.waitEstimateSeconds;
  if (!range) return { state: "open", text: agents };
  const minutes = (seconds) => Math.max(1, Math.round(seconds / 60));
  const low = minutes(range.low);
  const high = minutes(range.high);
  return { state: "open", text: low === high ? `${agents}, about ${high} min` : `${agents}, about ${low}–${high} min` };
}

async function showAvailability() {
  try {
    const token = currentToken || (await getToken()).token;
    const response = await fetch(`${api}/availability`, { headers: { authorization: `Bearer ${token}` } });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error ? answer.error.code : `HTTP ${response.status}`);
    const { state, text } = describeAvailability(answer);
    $("availability").textContent = text;
    document.body.dataset.availability = state;
    // Closed: no press, unless the customer already has a chat open (it stays theirs).
    $("talk-to-agent").disabled = state === "closed" && !document.body.dataset.activeChat;
  } catch (error) {
    $("availability").textContent = `Availability unknown (${error.message}).`;
    document.body.dataset.availability = "unknown";
  }
}

function when(chat) {
  const opened = new Date(chat.createdAt).toLocaleString();
  return chat.closedAt ? `${opened} – ${new Date(chat.closedAt).toLocaleTimeString()}` : `since ${opened}`;
}

// "Your chats": newest first, and End chat for the open one.
async function showChats() {
  if (!currentToken) return;
  const { me } = await graphql(currentToken, MY_CHATS);
  const list = $("chat-list");
  list.replaceChildren(...me.chats.edges.map(({ node }) => {
    const item = document.createElement("li");
    item.dataset.channelSid = node.channelSid;
    item.dataset.status = node.status;
    const sid = Object.assign(document.createElement("span"), { className: "sid", textContent: node.channelSid });
    const state = Object.assign(document.createElement("span"), { className: "state", textContent: node.status.toLowerCase() });
    const time = Object.assign(document.createElement("span"), { className: "when", textContent: `${node.mode.toLowerCase()} · ${when(node)}` });
    item.append(sid, state, time);
    return item;
  }));
  $("no-chats").hidden = me.chats.edges.length > 0;
  const active = me.activeChat && me.activeChat.channelSid;
  $("end-chat").hidden = !active;
  if (active) document.body.dataset.activeChat = active;
  else delete document.body.dataset.activeChat;
  document.body.dataset.chatsListed = String(me.chats.edges.length);
}

// After the chat, whoever ended it: the rating prompt and the transcript, for that chat.
function showAfterChat(channelSid) {
  const section = $("after-chat");
  section.dataset.channelSid = channelSid;
  section.hidden = false;
  $("rating-form").reset();
  $("rating-form").hidden = false;
  $("rating-result").hidden = true;
  $("transcript").replaceChildren();
  $("transcript").hidden = true;
  $("more-transcript").hidden = true;
  delete document.body.dataset.rated;
  delete document.body.dataset.ratingError;
  delete document.body.dataset.transcriptLoaded;
}

async function rateChat(event) {
  event.preventDefault();
  const form = $("rating-form");
  const channelSid = $("after-chat").dataset.channelSid;
  const score = Number(new FormData(form).get("score"));
  const comment = $("rating-comment").value.trim() || null;
  showError("");
  try {
    await getToken();
    const { rateChat: rated } = await graphql(currentToken, RATE_CHAT, { channelSid, score, comment });
    form.hidden = true;
    $("rating-result").textContent = `Thanks: you rated this chat ${rated.rating.score} out of 5.`;
    $("rating-result").hidden = false;
    document.body.dataset.rated = String(rated.rating.score);
  } catch (error) {
    document.body.dataset.ratingError = error.code || "failed";
    showError(error.message);
  }
}

let transcriptCursor = null;
async function showTranscript(more) {
  const channelSid = $("after-chat").dataset.channelSid;
  if (!more) {
    transcriptCursor = null;
    $("transcript").replaceChildren();
  }
  showError("");
  try {
    await getToken();
    const { chat } = await graphql(currentToken, TRANSCRIPT, { channelSid, after: transcriptCursor });
    const { nodes, pageInfo } = chat.messages;
    $("transcript").append(...nodes.map((message) => {
      const item = document.createElement("li");
      item.dataset.role = message.role;
      const author = Object.assign(document.createElement("span"), { className: "author", textContent: message.author });
      const text = Object.assign(document.createElement("span"), { className: "text", textContent: message.body });
      item.append(author, text);
      return item;
    }));
    $("transcript").hidden = false;
    transcriptCursor = pageInfo.endCursor;
    $("more-transcript").hidden = !pageInfo.hasNextPage;
    document.body.dataset.transcriptLoaded = String($("transcript").children.length);
  } catch (error) {
    showError(error.message);
  }
}

function chatEnded(channelSid, by) {
  if (chatTransport) chatTransport.close();
  chatTransport = null;
  showAfterChat(channelSid);
  $("connection").textContent = by === "you"
    ? "You ended the chat. Talk to agent opens a new one."
    : "The agent ended the chat. Talk to agent opens a new one.";
  $("channel-status").textContent = `ended by ${by}`;
  document.body.dataset.chatEnded = channelSid;
  document.body.dataset.endedBy = by;
  showChats().catch((error) => showError(error.message));
}

async function endChat() {
  const channelSid = document.body.dataset.activeChat;
  if (!channelSid) return;
  const button = $("end-chat");
  button.disabled = true;
  endingChat = true;
  showError("");
  try {
    await getToken();
    const { endChat: ended } = await graphql(currentToken, END_CHAT, { channelSid });
    addMessage("received", "Assistant", "You ended the chat with the agent.");
    chatEnded(ended.channelSid, "you");
  } catch (error) {
    showError(error.message);
  } finally {
    endingChat = false;
    button.disabled = false;
  }
}

async function connectChat(token, channelSid) {
  const config = await fetch(`${api}/config.json`).then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
  chatTransport = window.FlexHandoffTransport.open({
    config,
    token,
    identity,
    channelSid,
    refreshToken: async () => (await getToken()).token,
    onMessage: (author, body) => addMessage("received agent", author === "agent" ? "Agent" : author, body),
    onStatus: (text) => {
      $("connection").textContent = text;
    },
    onEnded: () => {
      if (!endingChat) chatEnded(channelSid, "the agent");
    },
  });
}

async function talkToAgent() {
  const button = $("talk-to-agent");
  button.disabled = true;
  showError("");
  try {
    const minted = await getToken();
    identity = minted.identity;
    const chat = await post("/channel", minted.token, { context: botContext() });
    $("identity").textContent = chat.identity;
    $("channel-sid").textContent = chat.channelSid;
    $("channel-status").textContent = chat.reused
      ? "reused (your open chat)"
      : chat.contextDelivered
        ? "new chat: the agent has your conversation with the assistant"
        : "new chat (the conversation with the assistant could not be passed on)";
    $("details").hidden = false;
    document.body.dataset.channelSid = chat.channelSid;
    document.body.dataset.reused = String(chat.reused);
    if (!chat.reused) document.body.dataset.contextDelivered = String(chat.contextDelivered);
    delete document.body.dataset.chatEnded;
    delete document.body.dataset.endedBy;
    $("after-chat").hidden = true;
    addMessage("received", "Assistant", "I'm handing you over to an agent.");
    await connectChat(minted.token, chat.channelSid);
    await showChats();
  } catch (error) {
    showError(error.message);
  } finally {
    button.disabled = false;
  }
}

async function send(event) {
  event.preventDefault();
  const input = $("message-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  if (!chatTransport) {
    if (identity && !document.body.dataset.chatEnded) {
      addMessage("sent", "You", text, "not delivered: not connected to Twilio");
      return;
    }
    addMessage("sent", "You", text);
    transcript.push({ author: "customer", body: text, at: new Date().toISOString() });
    const { intent } = detectedIntent();
    const reply = intent === "talk_to_agent"
      ? "I'm only a demo assistant. Press Talk to agent and a person will take over."
      : `That sounds like ${intent.replace(/_/g, " ")}. Press Talk to agent: the agent will see what you told me.`;
    addMessage("received bot", "Assistant", reply);
    transcript.push({ author: "bot", body: reply, at: new Date().toISOString() });
    return;
  }
  const item = addMessage("sent", "You", text, "sending…");
  try {
    await chatTransport.send(text);
    item.querySelector(".status").textContent = "sent";
  } catch (error) {
    item.querySelector(".status").textContent = `not sent: ${error.message}`;
  }
}

$("talk-to-agent").addEventListener("click", talkToAgent);
// Polled while the page is open: a warm function answers from its cache, Twilio is read at most
// once per refresh interval however many customers poll.
fetch(`${api}/config.json`).then((r) => (r.ok ? r.json() : {})).catch(() => ({})).then((config) => {
  showAvailability();
  setInterval(showAvailability, 1000 * (config.availabilityPollSeconds || 10));
});
$("end-chat").addEventListener("click", endChat);
$("rating-form").addEventListener("submit", rateChat);
$("show-transcript").addEventListener("click", () => showTranscript(false));
$("more-transcript").addEventListener("click", () => showTranscript(true));
$("composer").addEventListener("submit", send);
// A returning guest sees their chats at once; a stale token just leaves the list empty.
currentToken = localStorage.getItem(TOKEN_KEY);
showChats().catch(() => {});
