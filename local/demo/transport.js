// How the customer's page talks in the chat, in one place: Twilio's Conversations SDK with the
// access token against real Twilio; the local Twilio's REST API (through the gateway's
// /local-twilio/) under `make dev`, which has no SDK endpoint. Both call back the same way:
// onMessage(author, body) for what others say, onEnded() when the agent ends the chat,
// onStatus(text) for the connection line; both return { send(text), close() }, close() when
// the customer ended the chat (no onEnded follows).
"use strict";

window.FlexHandoffTransport = (() => {
  const POLL_MS = 700;

  function local({ config, identity, channelSid, onMessage, onEnded, onStatus }) {
    const legacy = config.mode === "chat";
    const chat = legacy
      ? `/local-twilio/v2/Services/${config.chatServiceSid}/Channels/${channelSid}`
      : `/local-twilio/v1/Services/${config.chatServiceSid}/Conversations/${channelSid}`;
    // Twilio's REST API takes basic auth (an API key and its secret, which a browser must never
    // hold); the local Twilio only checks, through Prism, that credentials are there.
    const headers = {
      authorization: `Basic ${btoa(`${identity}:local`)}`,
      "content-type": "application/x-www-form-urlencoded",
    };
    let seen = 0;
    let ended = false;
    const poll = async () => {
      try {
        const listed = await fetch(`${chat}/Messages`, { headers }).then((r) => r.json());
        const messages = listed.messages || [];
        for (const message of messages.slice(seen)) {
          const author = message.author || message.from;
          // History messages are the agent's view of the bot chat the page already shows.
          if (author !== identity && author !== "bot-transcript") onMessage(author, message.body || "");
        }
        seen = messages.length;
        const state = await fetch(chat, { headers }).then((r) => r.json());
        const status = legacy ? JSON.parse(state.attributes || "{}").status : state.state;
        if (status && status !== "active" && status !== "ACTIVE") {
          // Unless the customer's own end closed this transport meanwhile.
          if (!ended) onEnded();
          ended = true;
          return;
        }
      } catch (error) {
        onStatus(`Local Twilio unreachable (${error.message}); retrying…`);
      }
      if (!ended) setTimeout(poll, POLL_MS);
    };
    onStatus("Connected to the local Twilio: the agent's page is /agent.");
    poll();
    return {
      async send(text) {
        const form = new URLSearchParams({ [legacy ? "From" : "Author"]: identity, Body: text });
        const response = await fetch(`${chat}/Messages`, { method: "POST", headers, body: form });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
      },
      close() {
        ended = true;
      },
    };
  }

  function twilioSdk({ token, identity, channelSid, refreshToken, onMessage, onEnded, onStatus }) {
    if (!window.Twilio || !window.Twilio.Conversations) {
      onStatus("Twilio's Conversations SDK did not load: messages cannot reach the agent.");
      return null;
    }
    onStatus("Connecting to Twilio…");
    let conversation = null;
    const pending = [];
    const client = new window.Twilio.Conversations.Client(token);
    const giveUp = setTimeout(() => {
      if (!conversation) onStatus("Cannot reach Twilio: messages cannot reach the agent.");
    }, 10000);
    client.on("connectionStateChanged", (state) => {
      if (state === "denied" || state === "disconnected") {
        onStatus(`Cannot reach Twilio (${state}): messages cannot reach the agent.`);
      }
    });
    client.on("tokenAboutToExpire", async () => client.updateToken(await refreshToken()));
    client.on("initialized", async () => {
      conversation = await client.getConversationBySid(channelSid);
      clearTimeout(giveUp);
      onStatus("Connected: an agent will answer here.");
      conversation.on("messageAdded", (message) => {
        if (message.author !== identity) onMessage(message.author, message.body || "");
      });
      conversation.on("updated", ({ updateReasons }) => {
        if (updateReasons.includes("state") && conversation.state && conversation.state.current === "closed") onEnded();
      });
      pending.splice(0).forEach((resolve) => resolve());
    });
    return {
      async send(text) {
        if (!conversation) await new Promise((resolve) => pending.push(resolve));
        await conversation.sendMessage(text);
      },
      close() {
        client.removeAllListeners();
        client.shutdown();
      },
    };
  }

  return {
    open(options) {
      return options.config.twilio === "mock" ? local(options) : twilioSdk(options);
    },
  };
})();
