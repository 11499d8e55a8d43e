"""The one Twilio model: what this product asks of Twilio, kept in memory, in all three Flex
modes, and `TwilioServer`, its HTTP face. `make dev` (local_twilio), the Rust tests of the local
Twilio, `make bench` and the load and fault suite all run this model; they differ only in the
hooks they give the server (Prism checks, faults, counting, delays).

The model holds web chats, legacy Flex channels (a Flex Flow with channel type web that exists,
and Flex's reuse of an identity's open channel), conversations with participants and unique
names, messages, webhooks, Interactions and their TaskRouter tasks. When the agent ends a chat,
the webhooks registered on it are called as Twilio calls them, form-encoded and signed with the
auth token over the registered URL (`X-Twilio-Signature`, by Twilio's own library).

TaskRouter's statistics of the one queue (`QUEUE_SID`) are computed from the model's own tasks
and workers: `RealTimeStatistics` (available workers, tasks by status, the longest wait) and
`CumulativeStatistics` (tasks accepted within `Minutes`, and their wait until accepted).

The agent's side, under /local/ (not Twilio's API):
  GET  /local/tasks                      every chat with its task, context and messages
  GET  /local/workers                    the agents and whether each is available
  POST /local/workers/{name}             Activity=available|offline: an agent's status
  POST /local/chats/{sid}/accept         the agent accepts the task (Worker=, default Alex): calls the
                                         chat's webhooks for the agent joining
  POST /local/chats/{sid}/messages       Body=...: the agent replies
  POST /local/chats/{sid}/end            the agent ends the chat, as Flex does in its mode

The customer ends a chat through Twilio's REST API (chat-graphql's endChat): a conversation's
State=closed, an Interaction channel's Status=closed, a legacy channel's Attributes with
status INACTIVE; each completes the chat's task.
"""

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from twilio.request_validator import RequestValidator

from flex_handoff_dev.servers import Handler, Server, log, serve


# Twilio keeps at most five scoped webhooks on a conversation (error 50361 past that).
MAX_CONVERSATION_WEBHOOKS = 5
# The one TaskQueue chats are routed to (local/dev.env's TWILIO_TASK_QUEUE_SID).
QUEUE_SID = "WQ88888888888888888888888888888888"
# The agents a stock local stack starts with, both available.
AGENTS = ("Alex", "Sam")


def new_sid(prefix):
    return prefix + uuid.uuid4().hex


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class TwilioModel:
    """The state, and each request's effect on it. Thread-safe; `perform` answers (status, body)."""

    def __init__(self, clock=time.time):
        self.lock = threading.Lock()
        self.chats = {}  # sid -> chat
        self.by_name = {}  # conversation unique name -> sid
        self.clock = clock
        self.workers = {name: {"sid": new_sid("WK"), "available": True} for name in AGENTS}

    # --- what the functions call ---------------------------------------------------------------

    def perform(self, method, path, query, form):
        parts = path.strip("/").split("/")
        with self.lock:
            if method == "GET":
                return self.read(path, parts, query)
            return self.write(path, parts, form)

    def read(self, path, parts, query):
        if len(parts) == 6 and parts[1] == "Workspaces" and parts[3] == "TaskQueues":
            if parts[4] != QUEUE_SID:
                return not_found()
            if parts[5] == "RealTimeStatistics":
                return 200, self.realtime_statistics(parts[2])
            if parts[5] == "CumulativeStatistics":
                return 200, self.cumulative_statistics(parts[2], int(query.get("Minutes") or 15))
            return not_found()
        if parts[1:2] == ["Interactions"] and len(parts) == 5:
            found = self.chat_of_interaction_channel(parts[4])
            if found is None:
                return not_found()
            return 200, interaction_channel(parts[2], parts[4], found)
        if "/FlexFlows/" in path:
            return 200, {"sid": parts[-1], "channel_type": "web", "enabled": True}
        if path.endswith("/ParticipantConversations"):
            listed = [{"conversation_sid": sid, "conversation_state": chat["state"],
                       "conversation_date_created": chat["created"], "participant_identity": chat["identity"]}
                      for sid, chat in self.chats.items()
                      if chat["identity"] == query.get("Identity") and chat["api"] == "conversations"]
            return 200, {"conversations": listed, "meta": {"key": "conversations"}}
        if path.endswith("/Webhooks"):
            chat = self.chats.get(parts[-2])
            if chat is None:
                return not_found()
            target = "target" if chat["api"] == "conversations" else "type"
            return 200, {"webhooks": [{"sid": hook["sid"], target: "webhook",
                                       "configuration": {"url": hook["url"], "filters": hook["filters"]}}
                                      for hook in chat["webhooks"]],
                         "meta": {"key": "webhooks"}}
        if path.endswith("/Messages"):
            chat = self.chats.get(parts[-2])
            if chat is None:
                return not_found()
            return 200, self.message_page(path, chat, query)
        if path.endswith("/Tasks"):
            wanted = query.get("EvaluateTaskAttributes", "")
            tasks = [{"sid": chat["task"]["sid"], "attributes": json.dumps(chat["task"]["attributes"])}
                     for chat in self.chats.values()
                     if chat.get("task") and f'handoffId == "{chat["task"]["attributes"].get("handoffId")}"' == wanted]
            return 200, {"tasks": tasks, "meta": {"key": "tasks"}}
        if parts[-2:-1] == ["Channels"]:
            chat = self.chats.get(parts[-1])
            if chat is None or chat["api"] != "chat":
                return not_found()
            return 200, {"sid": parts[-1], "attributes": json.dumps(self.channel_attributes(chat)), "date_created": chat["created"]}
        if "/Conversations/" in path:
            key = urllib.parse.unquote(parts[-1])
            sid = self.by_name.get(key, key)
            chat = self.chats.get(sid)
            if chat is None:
                return not_found()
            return 200, conversation(sid, chat)
        return not_found()

    def write(self, path, parts, form):
        # The customer's "end my chat" (chat-graphql's endChat): updates of the chat itself, or
        # of its Interaction channel. Updates made through the REST API fire no webhook: Twilio
        # calls them only with X-Twilio-Webhook-Enabled, which the functions do not send.
        if parts[1:2] == ["Interactions"] and len(parts) == 5:
            chat = self.chat_of_interaction_channel(parts[4])
            if chat is None:
                return not_found()
            if form.get("Status") == "closed":
                # Flex closes the conversation with the channel; Routing closed completes the
                # task, without it the task would be left wrapping.
                chat["state"] = "closed"
                routed = json.loads(form.get("Routing") or "{}").get("status")
                chat["task"]["status"] = "completed" if routed == "closed" else "wrapping"
            return 200, interaction_channel(parts[2], parts[4], chat)
        if parts[-2:-1] in (["Conversations"], ["Channels"]) and parts[-1] in self.chats:
            return self.update(parts[-1], self.chats[parts[-1]], form)
        if path == "/v2/WebChats":
            sid = self.open(form["Identity"], "conversations", "conversations", form.get("CustomerFriendlyName"),
                            form.get("PreEngagementData"))
            return 201, {"conversation_sid": sid, "identity": form["Identity"]}
        if path == "/v1/Channels":
            for sid, chat in self.chats.items():
                if chat["identity"] == form["Identity"] and chat["mode"] == "chat" and chat["state"] == "active":
                    return 201, {"sid": sid, "flex_flow_sid": form["FlexFlowSid"]}
            sid = self.open(form["Identity"], "chat", "chat", form.get("ChatUserFriendlyName"), form.get("PreEngagementData"))
            return 201, {"sid": sid, "flex_flow_sid": form["FlexFlowSid"]}
        if path.endswith("/ConversationWithParticipants"):
            name = form.get("UniqueName")
            if name and name in self.by_name:
                return 409, {"code": 50353, "message": "Conversation with provided unique name already exists", "status": 409}
            identity = json.loads(form.get("Participant", "{}")).get("identity")
            sid = self.open(identity, "interactions", "conversations", form.get("FriendlyName"), None)
            chat = self.chats[sid]
            chat["unique_name"] = name
            chat["attributes"] = json.loads(form.get("Attributes") or "{}")
            if name:
                self.by_name[name] = sid
            return 201, conversation(sid, chat)
        if path == "/v1/Interactions":
            sid = json.loads(form["Channel"])["properties"]["media_channel_sid"]
            chat = self.chats.get(sid)
            if chat is None:
                return 400, {"code": 20001, "message": f"media_channel_sid {sid} is not a conversation", "status": 400}
            routing = json.loads(form["Routing"])["properties"]
            chat["customer"] = routing["attributes"].get("customerName", chat["customer"])
            interaction, channel = new_sid("KD"), new_sid("UO")
            chat["task"] = {"sid": new_sid("WT"), "status": "pending", "created_at": self.clock(),
                            "attributes": {**routing["attributes"], "conversationSid": sid,
                                           "flexInteractionSid": interaction, "flexInteractionChannelSid": channel}}
            return 201, {"sid": interaction, "channel": {"type": "web", "sid": channel}}
        chat = self.chats.get(parts[-2])
        if chat is None:
            return not_found()
        if path.endswith("/Messages"):
            author = form.get("Author") or form.get("From") or chat["identity"]
            return 201, self.add_message(chat, author, form.get("Body", ""), form.get("Attributes") or "{}")
        if path.endswith("/Webhooks"):
            if chat["api"] == "conversations" and len(chat["webhooks"]) >= MAX_CONVERSATION_WEBHOOKS:
                return 400, {"code": 50361, "message": "Maximum number of webhooks for this conversation reached",
                             "status": 400}
            sid = new_sid("WH")
            chat["webhooks"].append({"sid": sid, "url": form["Configuration.Url"], "filters": form.get("_filters", [])})
            return 201, {"sid": sid, "target": "webhook"}
        return not_found()

    def chat_of_interaction_channel(self, channel_sid):
        """The chat whose Interaction has this channel (`UO…`)."""
        for chat in self.chats.values():
            if chat.get("task") and chat["task"]["attributes"].get("flexInteractionChannelSid") == channel_sid:
                return chat
        return None

    def update(self, sid, chat, form):
        """A chat's own update: a conversation's `State`, a legacy channel's `Attributes` (Flex
        reads `status: INACTIVE` there as ended)."""
        if chat["api"] == "conversations":
            if "Attributes" in form:
                chat["attributes"] = json.loads(form["Attributes"] or "{}")
            state = form.get("State")
            if state:
                if chat["state"] == "closed" and state != "closed":
                    return 400, {"code": 50446, "message": "A closed conversation cannot be reopened", "status": 400}
                chat["state"] = state
                if state == "closed" and chat["task"]:
                    chat["task"]["status"] = "completed"
            return 200, conversation(sid, chat)
        if "Attributes" in form:
            attributes = json.loads(form["Attributes"] or "{}")
            chat["channel_attributes"] = attributes
            if str(attributes.get("status", "")).upper() == "INACTIVE":
                chat["state"] = "inactive"
                if chat["task"]:
                    chat["task"]["status"] = "completed"
        return 200, {"sid": sid, "attributes": json.dumps(self.channel_attributes(chat))}

    def message_page(self, path, chat, query):
        """A page of the chat's messages as Twilio pages them: `PageSize` (50 when absent),
        `Order`, and a next page named by `Page` and an opaque `PageToken` in
        `meta.next_page_url`."""
        field = "author" if chat["api"] == "conversations" else "from"
        size = int(query.get("PageSize") or 50)
        page = int(query.get("Page") or 0)
        token = query.get("PageToken") or ""
        start = int(token[2:]) if token.startswith("PT") and token[2:].isdigit() else 0
        ordered = chat["messages"] if query.get("Order", "asc") == "asc" else chat["messages"][::-1]
        listed = ordered[start:start + size]
        following = start + size < len(ordered)
        next_url = None
        if following:
            next_query = urllib.parse.urlencode({"Order": query.get("Order", "asc"), "PageSize": size,
                                                 "Page": page + 1, "PageToken": f"PT{start + size}"})
            next_url = f"https://twilio.local{path}?{next_query}"
        return {"messages": [{"sid": m["sid"], field: m["author"], "body": m["body"], "attributes": m["attributes"],
                              "index": m["index"], "date_created": m["date_created"]}
                             for m in listed],
                "meta": {"key": "messages", "page": page, "page_size": size, "next_page_url": next_url}}

    def channel_attributes(self, chat):
        return {**chat.get("channel_attributes", {}), "status": "ACTIVE" if chat["state"] == "active" else "INACTIVE"}

    def open(self, identity, mode, api, customer, pre_engagement):
        sid = new_sid("CH")
        attributes = json.loads(pre_engagement) if pre_engagement else {}
        self.chats[sid] = {"identity": identity, "mode": mode, "api": api, "customer": customer or identity,
                           "state": "active", "created": now_iso(), "messages": [], "webhooks": [],
                           "unique_name": None, "attributes": {}, "accepted": False,
                           # Flex's own orchestration makes the task in these two modes.
                           "task": None if mode == "interactions" else
                           {"sid": new_sid("WT"), "status": "pending", "created_at": self.clock(),
                            "attributes": {"pre_engagement_data": attributes}}}
        return sid

    def add_message(self, chat, author, body, attributes):
        message = {"sid": new_sid("IM"), "author": author, "body": body, "attributes": attributes,
                   "index": len(chat["messages"]), "date_created": now_iso()}
        chat["messages"].append(message)
        return message

    # --- the agent's side ----------------------------------------------------------------------

    def tasks(self):
        with self.lock:
            return [{"channelSid": sid, "mode": chat["mode"], "customer": chat["customer"], "identity": chat["identity"],
                     "state": chat["state"], "accepted": chat["accepted"],
                     # What the backend copies to the chat's attributes when the customer rates it.
                     "rating": (chat["attributes"] if chat["api"] == "conversations"
                                else chat.get("channel_attributes", {})).get("customerRating"),
                     "task": chat["task"], "conversationAttributes": chat["attributes"], "messages": chat["messages"]}
                    for sid, chat in self.chats.items()]

    def accept(self, sid, worker="Alex"):
        """The agent accepts the chat's task: Flex adds them to the chat (`onParticipantAdded`,
        a legacy channel's `onMemberAdded`). Answers the webhook calls to make: [(url, params)]."""
        with self.lock:
            chat = self.chats[sid]
            if chat["accepted"]:
                return []
            chat["accepted"] = True
            if chat["task"] and chat["task"]["status"] == "pending":
                chat["task"]["status"] = "assigned"
                chat["task"]["accepted_at"] = self.clock()
            identity = f"agent_{worker.lower()}"
            if chat["api"] == "conversations":
                event = "onParticipantAdded"
                params = {"EventType": event, "ConversationSid": sid, "ParticipantSid": new_sid("MB"),
                          "Identity": identity, "Source": "API"}
            else:
                event = "onMemberAdded"
                params = {"EventType": event, "ChannelSid": sid, "MemberSid": new_sid("MB"),
                          "Identity": identity, "Source": "API"}
            return [(hook["url"], params) for hook in chat["webhooks"] if not hook["filters"] or event in hook["filters"]]

    def set_activity(self, name, available):
        with self.lock:
            self.workers.setdefault(name, {"sid": new_sid("WK"), "available": False})["available"] = available

    def worker_list(self):
        with self.lock:
            return [{"name": name, **worker} for name, worker in self.workers.items()]

    # --- TaskRouter's statistics of the queue --------------------------------------------------

    def queue_tasks(self):
        return [chat["task"] for chat in self.chats.values() if chat.get("task")]

    def realtime_statistics(self, workspace):
        tasks = self.queue_tasks()
        by_status = {}
        for task in tasks:
            by_status[task["status"]] = by_status.get(task["status"], 0) + 1
        waiting = [task["created_at"] for task in tasks if task["status"] in ("pending", "reserved")]
        return {"account_sid": None, "workspace_sid": workspace, "task_queue_sid": QUEUE_SID,
                "total_available_workers": sum(1 for worker in self.workers.values() if worker["available"]),
                "total_eligible_workers": len(self.workers),
                "tasks_by_status": by_status, "total_tasks": len(tasks),
                "longest_task_waiting_age": int(self.clock() - min(waiting)) if waiting else 0}

    def cumulative_statistics(self, workspace, minutes):
        since = self.clock() - minutes * 60
        accepted = [task for task in self.queue_tasks() if task.get("accepted_at", 0) >= since]
        waits = [int(task["accepted_at"] - task["created_at"]) for task in accepted]
        return {"account_sid": None, "workspace_sid": workspace, "task_queue_sid": QUEUE_SID,
                "reservations_created": len(accepted), "reservations_accepted": len(accepted),
                "tasks_entered": sum(1 for task in self.queue_tasks() if task["created_at"] >= since),
                "wait_duration_until_accepted": {"avg": sum(waits) // len(waits) if waits else 0,
                                                 "min": min(waits, default=0), "max": max(waits, default=0),
                                                 "total": sum(waits)}}

    def agent_message(self, sid, body):
        with self.lock:
            return self.add_message(self.chats[sid], "agent", body, "{}")

    def end(self, sid, source="API"):
        """Ends the chat as Flex does when the agent completes the task: a conversation is
        closed (`onConversationStateUpdated`), a legacy channel marked INACTIVE
        (`onChannelUpdated`). Answers the webhook calls to make: [(url, params)].
        `source="SYSTEM"`: a conversation's own `Timers.Closed` closed it."""
        with self.lock:
            chat = self.chats[sid]
            if chat["state"] != "active":
                return []
            chat["state"] = "closed" if chat["api"] == "conversations" else "inactive"
            if chat["task"]:
                chat["task"]["status"] = "completed"
            if chat["api"] == "conversations":
                event = "onConversationStateUpdated"
                params = {"EventType": event, "ConversationSid": sid, "StateFrom": "active", "StateTo": "closed",
                          "Source": source}
            else:
                event = "onChannelUpdated"
                params = {"EventType": event, "ChannelSid": sid, "Attributes": json.dumps({"status": "INACTIVE"}),
                          "Source": "API"}
            return [(hook["url"], params) for hook in chat["webhooks"] if not hook["filters"] or event in hook["filters"]]


def conversation(sid, chat):
    return {"sid": sid, "unique_name": chat["unique_name"], "state": chat["state"],
            "attributes": json.dumps(chat["attributes"]), "date_created": chat["created"]}


def interaction_channel(interaction_sid, channel_sid, chat):
    return {"sid": channel_sid, "interaction_sid": interaction_sid, "type": "web",
            "status": "closed" if chat["state"] == "closed" else "open"}


def not_found():
    return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}


def form_of(pairs):
    """A form's fields as the model reads them: the last value of each key, and the repeated
    `Configuration.Filters` as the list `_filters`."""
    form = dict(pairs)
    form["_filters"] = [value for key, value in pairs if key == "Configuration.Filters"]
    return form


def prism_form(pairs):
    """Twilio takes lists as repeated keys; Prism reads an array only when indexed."""
    counts = {}
    for key, _ in pairs:
        counts[key] = counts.get(key, 0) + 1
    seen, spelled = {}, []
    for key, value in pairs:
        if counts[key] > 1 or key == "Participant":
            spelled.append((f"{key}[{seen.get(key, 0)}]", value))
            seen[key] = seen.get(key, 0) + 1
        else:
            spelled.append((key, value))
    return urllib.parse.urlencode(spelled).encode()


class Hooks:
    """What a harness adds to each Twilio call; every method may be left as it is.

    before: called first; answering there (and returning True) skips the model.
    after: called once the model performed the call; True means the hook dealt with the answer.
    answered: called after the answer went out.
    """

    def before(self, handler, method, path, form):
        return False

    def after(self, handler, method, path, form, status, body):
        return False

    def answered(self, handler, method, path):
        pass


class TwilioServer:
    """The model over HTTP: Twilio's REST paths and the agent's side under /local/.

    `check(method, path, query, pairs, authorization)`, when given, runs before the model and
    answers (refusal, example): a refusal `(status, body)` is answered instead; the example's
    fields (Twilio's documented shape) are the base of a 2xx answer. `auth_token` signs the
    webhooks an agent's end calls. `start()` serves in the background (port 0: a free one),
    `serve_forever()` in the foreground.
    """

    def __init__(self, model=None, port=0, check=None, hooks=None, auth_token="", log_prefix=None):
        self.model = model or TwilioModel()
        self.check = check
        self.hooks = hooks or Hooks()
        self.signer = RequestValidator(auth_token)
        self.port = port
        self.handler = self._handler(log_prefix)
        self.server = None

    def start(self):
        """Serves in the background; answers self."""
        self.server = Server(self.handler, self.port)
        self.port = self.server.port
        return self

    def serve_forever(self):
        serve(self.handler, self.port)

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def call_webhooks(self, calls):
        """Posts each webhook as Twilio does: signed over the registered URL (connection overrides
        and all; the fragment itself is not sent), retried as its overrides say (`rc` retries,
        default 1, on the `rp` failure kinds, default `ct`)."""
        for url, params in calls:
            overrides = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).fragment))
            retries = int(overrides.get("rc", "1"))
            policy = set(overrides.get("rp", "ct").split(","))
            body = urllib.parse.urlencode(params).encode()
            signature = self.signer.compute_signature(url, params)
            for attempt in range(1 + retries):
                request = urllib.request.Request(url, data=body, method="POST", headers={
                    "content-type": "application/x-www-form-urlencoded",
                    "x-twilio-signature": signature,
                    "i-twilio-idempotency-token": uuid.uuid4().hex})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        log(f"webhook {url}: {response.status}")
                        break
                except urllib.error.HTTPError as error:
                    log(f"webhook {url}: {error.code} (attempt {attempt + 1})")
                    kind = "5xx" if error.code >= 500 else "4xx"
                except (urllib.error.URLError, OSError) as error:
                    log(f"webhook {url}: {error} (attempt {attempt + 1})")
                    kind = "rt" if isinstance(getattr(error, "reason", error), TimeoutError) else "ct"
                if not policy & {kind, "all"}:
                    break

    def _handler(self, prefix):
        outer = self
        model = self.model

        class TwilioHandler(Handler):
            log_prefix = prefix

            def reply_json(self, status, body, headers=None):
                self.reply(status, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})})

            def request_parts(self):
                url = urllib.parse.urlsplit(self.path)
                raw = self.body()
                return url.path, url.query, urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True)

            def do_GET(self):
                path, query, _ = self.request_parts()
                if path == "/local/tasks":
                    return self.reply_json(200, {"tasks": model.tasks()})
                if path == "/local/workers":
                    return self.reply_json(200, {"workers": model.worker_list()})
                self.twilio("GET", path, query, [])

            def do_POST(self):
                path, query, pairs = self.request_parts()
                if path.startswith("/local/chats/"):
                    return self.agent(path, dict(pairs))
                if path.startswith("/local/workers/"):
                    activity = dict(pairs).get("Activity")
                    if activity not in ("available", "offline"):
                        return self.reply_json(400, {"error": {"code": "invalid_activity",
                                                               "message": "Activity is available or offline"}})
                    name = urllib.parse.unquote(path.rsplit("/", 1)[1])
                    model.set_activity(name, activity == "available")
                    return self.reply_json(200, {"workers": model.worker_list()})
                self.twilio("POST", path, query, pairs)

            def agent(self, path, form):
                _, _, sid, action = path.strip("/").split("/")
                if sid not in model.chats:
                    return self.reply_json(404, {"error": {"code": "not_found", "message": f"no chat {sid}"}})
                if action == "accept":
                    calls = model.accept(sid, form.get("Worker") or "Alex")
                    outer.call_webhooks(calls)
                    return self.reply_json(200, {"accepted": sid, "webhooks": len(calls)})
                if action == "messages":
                    return self.reply_json(201, model.agent_message(sid, form.get("Body", "")))
                if action == "end":
                    calls = model.end(sid)
                    outer.call_webhooks(calls)
                    return self.reply_json(200, {"ended": sid, "webhooks": len(calls)})
                return self.reply_json(404, {"error": {"code": "not_found", "message": f"no action {action}"}})

            def twilio(self, method, path, query, pairs):
                form = form_of(pairs)
                if outer.hooks.before(self, method, path, form):
                    return
                example = {}
                if outer.check:
                    refusal, example = outer.check(method, path, query, pairs, self.headers.get("authorization", ""))
                    if refusal:
                        return self.reply_json(*refusal)
                status, body = model.perform(method, path, dict(urllib.parse.parse_qsl(query)), form)
                if 200 <= status < 300 and isinstance(example, dict):
                    body = {**example, **body}
                if outer.hooks.after(self, method, path, form, status, body):
                    return
                self.reply_json(status, body)
                outer.hooks.answered(self, method, path)

        return TwilioHandler
