"""The fault suite: every case opens a chat for its own customer while one thing fails, then checks
"nothing lost, nothing duplicated, next press works": the customer has exactly one chat in Twilio
(and in interactions mode one task), a record pointing at it with the chat-end webhook on it, and
the next press answers with that chat. Cases run concurrently, so the ones that must wait out a
claim's lease (15 s) wait once together.

`liveness_run` is the second half: a chat whose end never reached us (the webhook lost, or
answered 5xx, `endChat` closing in Twilio and then failing in DynamoDB, a conversation closed by
its timers, a takeover of a chat with five webhooks, an Interaction refused until the
configuration is fixed). Each case asserts that the next press within the stated time gets a live
chat, exactly one, and that nothing else changed.

The Twilio stand-in keeps state for all three modes (web chats, legacy Flex channels with Flex's
reuse of an identity's open channel, conversations by unique name, interactions and their tasks,
webhooks and messages) and injects faults per customer. A DynamoDB proxy in front of moto injects
DynamoDB's faults per customer. The functions are the release binaries as separate processes.
"""

import concurrent.futures
import json
import socket
import threading
import time
import urllib.parse
import uuid

from flex_handoff_dev.aws_local import forward
from flex_handoff_dev.events import event, guest_event
from flex_handoff_dev.servers import Handler, Server, log
from flex_handoff_dev.twilio_model import Hooks, TwilioServer

# The lease a claim holds (CLAIM_LEASE_SECONDS in shared/src/handlers/channel.rs), plus a margin.
LEASE_WAIT_S = 16.5
# A short Twilio deadline, so "slower than the deadline" cases stay short. Not shorter: at 1.5 s
# the 429 case (Retry-After: 1) failed now and then, when the first answer took over 0.5 s with
# every case's instance starting at once on two cores, and the client rightly gave up rather than
# wait past its deadline.
TWILIO_DEADLINE_MS = 3000

CREATE_ROUTES = {
    "conversations": ["web chat", "history message"],
    "chat": ["flex channel", "history message"],
    "interactions": ["conversation", "interaction", "history message"],
}


class Fault:
    """What to do to a customer's calls of one kind: `times` calls, then normal service."""

    def __init__(self, kind, what, times=1):
        self.kind, self.what, self.times, self.initial = kind, what, times, times

    def take(self):
        if self.times == 0:
            return None
        self.times -= 1
        return self.what


class StatefulTwilio(Hooks):
    """The one Twilio model (twilio_model) behind a server whose hooks inject per-customer
    faults. Thread-safe."""

    def __init__(self, auth_token=""):
        # The auth token signs the chat-end webhooks the model calls (the liveness cases).
        self.server = TwilioServer(hooks=self, auth_token=auth_token).start()
        self.model = self.server.model
        self.faults = {}  # identity -> [Fault]
        self.kill = {}  # identity -> callable that kills the instance serving it
        self.lock = threading.Lock()
        # TaskRouter statistics reads by endpoint (the availability scenario's measure).
        self.statistics_reads = {"RealTimeStatistics": 0, "CumulativeStatistics": 0}

    def url(self):
        return self.server.url()

    def chat_count(self):
        with self.model.lock:
            return len(self.model.chats)

    def chats_of(self, identity):
        with self.model.lock:
            return [sid for sid, chat in self.model.chats.items() if chat["identity"] == identity]

    def chat(self, sid):
        with self.model.lock:
            chat = self.model.chats[sid]
            parts = [(m["author"], json.loads(m["attributes"]).get("flexHandoff", {}).get("part")) for m in chat["messages"]]
            return {"webhooks": len(chat["webhooks"]), "messages": parts}

    def tasks_of(self, identity):
        with self.model.lock:
            return [{"interaction": chat["task"]["attributes"]["flexInteractionSid"]}
                    for chat in self.model.chats.values()
                    if chat["identity"] == identity and chat["mode"] == "interactions" and chat["task"]]

    def fault_for(self, identity, kind):
        with self.lock:
            for fault in self.faults.get(identity, []):
                if fault.kind == kind and (what := fault.take()):
                    return what
        return None

    # The hooks: a fault is chosen when the call arrives; some answer before the model performs
    # the call, the others act on its answer.

    def before(self, handler, method, path, form):
        if path == "/v1/Interactions" and json.loads(form.get("Routing", "{}")).get("properties", {}).get("workflow_sid") == BAD_WORKFLOW:
            handler.fault = None
            handler.reply_json(400, {"code": 20001, "message": "Invalid workflow_sid", "status": 400})
            return True
        identity, kind = self.owner_and_kind(path, form) if method == "POST" else (None, None)
        handler.fault = self.fault_for(identity, kind) if identity else None
        handler.identity = identity
        error = {"429": (429, {"code": 20429, "message": "Too Many Requests", "status": 429}),
                 "400": (400, {"code": 20001, "message": "Invalid parameter", "status": 400}),
                 "503 before": (503, {"code": 20503, "message": "Service Unavailable", "status": 503})}.get(handler.fault)
        if error is None:
            return False
        handler.reply_json(*error, {"retry-after": "1"} if handler.fault == "429" else None)
        return True

    def after(self, handler, method, path, form, status, body):
        endpoint = path.rsplit("/", 1)[-1]
        if endpoint in self.statistics_reads:
            with self.lock:
                self.statistics_reads[endpoint] += 1
        if handler.fault == "lose answer":
            # Performed, and the connection drops before the answer: what a network failure
            # after Twilio did the work looks like to the caller.
            handler.connection.shutdown(socket.SHUT_RDWR)
            handler.close_connection = True
            return True
        if handler.fault == "kill":
            self.kill[handler.identity]()
            handler.close_connection = True
            return True
        if handler.fault == "slow after":
            time.sleep(TWILIO_DEADLINE_MS / 1000 + 0.5)
        return False

    def owner_and_kind(self, path, form):
        """Whose request this is, and which kind of call, for the faults."""
        with self.model.lock:
            if path == "/v2/WebChats":
                return form.get("Identity"), "web chat"
            if path == "/v1/Channels":
                return form.get("Identity"), "flex channel"
            if path.endswith("/ConversationWithParticipants"):
                return json.loads(form.get("Participant", "{}")).get("identity"), "conversation"
            if path == "/v1/Interactions":
                sid = json.loads(form["Channel"])["properties"]["media_channel_sid"]
                return self.model.chats.get(sid, {}).get("identity"), "interaction"
            sid = path.strip("/").split("/")[-2]
            kind = "history message" if path.endswith("/Messages") else "webhook"
            return self.model.chats.get(sid, {}).get("identity"), kind


class DynamoFaults:
    """A proxy in front of moto that fails a customer's DynamoDB calls of one operation."""

    def __init__(self, moto_url):
        self.lock = threading.Lock()
        self.faults = {}  # identity -> [Fault] (kind = the operation, e.g. "TransactWriteItems")
        outer = self

        class Proxy(Handler):
            def do_POST(self):
                body = self.body()
                operation = self.headers.get("x-amz-target", "?").split(".")[-1]
                what = outer.fault_for(body, operation)
                if what == "throttle":
                    return self.reply(400, json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                                                       "message": "Rate of requests exceeds the allowed throughput."}).encode(),
                                      {"content-type": "application/x-amz-json-1.0"})
                if what == "fail":
                    return self.reply(500, json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                                                       "message": "Internal server error"}).encode(),
                                      {"content-type": "application/x-amz-json-1.0"})
                status, payload, headers = forward(moto_url, self, body)
                if what == "lose answer":
                    # Performed by moto; the answer never reaches the SDK, which repeats the call.
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.reply(status, payload, headers)

        self.server = Server(Proxy)

    def url(self):
        return f"http://127.0.0.1:{self.server.port}"

    def fault_for(self, body, operation):
        text = body.decode(errors="replace")
        with self.lock:
            for identity, faults in self.faults.items():
                if f"active#{identity}" in text:
                    for fault in faults:
                        if fault.kind == operation and (what := fault.take()):
                            return what
        return None


class Case:
    """One customer pressing while `twilio_faults` and `dynamo_faults` hold."""

    def __init__(self, name, mode, expect, twilio_faults=(), dynamo_faults=()):
        self.name, self.mode, self.expect = name, mode, expect
        self.twilio_faults, self.dynamo_faults = list(twilio_faults), list(dynamo_faults)
        self.kill = any(fault.what == "kill" for fault in self.twilio_faults)
        self.identity = f"guest-fault-{uuid.uuid4().hex[:12]}"


def cases():
    """Every create of every mode with its answer lost, the process killed after it, Twilio's
    429/5xx/slowness and DynamoDB's faults. `expect`: the first press's status (a list: any of)."""
    found = []
    first_create = {"conversations": "web chat", "chat": "flex channel", "interactions": "conversation"}
    for mode, kinds in CREATE_ROUTES.items():
        for kind in kinds:
            # A lost answer is found within the press, except an Interaction's in Twilio, whose task
            # may come later; the stand-in makes it at once, so it is found too.
            expect = [201]
            found.append(Case(f"{mode}: {kind} performed, answer lost", mode, expect,
                              twilio_faults=[Fault(kind, "lose answer")]))
        for kind in [k for k in kinds if k != "history message"]:
            found.append(Case(f"{mode}: process killed after the {kind} create", mode, [None],
                              twilio_faults=[Fault(kind, "kill")]))
        create = first_create[mode]
        found += [
            Case(f"{mode}: {create} 429 then served", mode, [201], twilio_faults=[Fault(create, "429")]),
            Case(f"{mode}: {create} 503 on every attempt", mode, [503], twilio_faults=[Fault(create, "503 before", times=10)]),
            # A conversation is then fetched by its unique name within the press; the other
            # creates end in 504 with the claim kept, and the press after the lease adopts.
            Case(f"{mode}: {create} performed, slower than the deadline", mode, [201] if mode == "interactions" else [504],
                 twilio_faults=[Fault(create, "slow after")]),
            Case(f"{mode}: webhook 503 on every attempt after the create", mode, [503],
                 twilio_faults=[Fault("webhook", "503 before", times=4)]),
            Case(f"{mode}: DynamoDB throttles the claim once", mode, [201], dynamo_faults=[Fault("PutItem", "throttle")]),
            Case(f"{mode}: DynamoDB throttles every claim attempt", mode, [503], dynamo_faults=[Fault("PutItem", "throttle", times=10)]),
            Case(f"{mode}: DynamoDB claim performed, answer lost", mode, [201], dynamo_faults=[Fault("PutItem", "lose answer")]),
            Case(f"{mode}: DynamoDB activation performed, answer lost", mode, [201],
                 dynamo_faults=[Fault("TransactWriteItems", "lose answer")]),
            Case(f"{mode}: DynamoDB fails after Twilio opened the chat", mode, [503],
                 dynamo_faults=[Fault("TransactWriteItems", "fail", times=10)]),
            Case(f"{mode}: DynamoDB fails after the claim and Twilio rejects", mode, [502],
                 twilio_faults=[Fault(create, "400")], dynamo_faults=[Fault("DeleteItem", "fail", times=10)]),
        ]
    return found


def run(env, moto_url, records, instance_class):
    """Runs every case; returns the rows of the report. Raises on the first broken promise."""
    twilio = StatefulTwilio()
    dynamo = DynamoFaults(moto_url)
    base = {**env, "AWS_ENDPOINT_URL_DYNAMODB": dynamo.url(), "TWILIO_FLEX_API_URL": twilio.url(),
            "TWILIO_CHAT_API_URL": twilio.url(), "TWILIO_CONVERSATIONS_API_URL": twilio.url(),
            "TWILIO_TASKROUTER_API_URL": twilio.url(), "TWILIO_DEADLINE_MS": str(TWILIO_DEADLINE_MS)}
    all_cases = cases()
    for case in all_cases:
        twilio.faults[case.identity] = case.twilio_faults
        dynamo.faults[case.identity] = case.dynamo_faults
    log(f"faults: {len(all_cases)} cases across 3 modes, each on its own fresh instance...")

    def first_press(case):
        instance = instance_class("create-channel", {**base, "FLEX_MODE": case.mode})
        twilio.kill[case.identity] = instance.process.kill
        press = guest_event("channel-with-context.json", case.identity)
        started = time.monotonic()
        try:
            status, body, _ = instance.invoke(press) if not case.kill else invoke_until_killed(instance, press)
        finally:
            instance.stop()
        return status, body, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(len(all_cases)) as pool:
        firsts = list(pool.map(first_press, all_cases))
    for case, (status, body, _) in zip(all_cases, firsts):
        assert status in case.expect, f"{case.name}: first press {status} {body}, expected {case.expect}"
        if status and status >= 400:
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, f"{case.name}: {body}"
    # Faults are over; the presses after the lease (or at once) must find one chat.
    for case in all_cases:
        for fault in twilio.faults[case.identity] + dynamo.faults[case.identity]:
            assert fault.times < fault.initial, f"{case.name}: the fault {fault.what} on {fault.kind} never happened"
        twilio.faults[case.identity] = []
        dynamo.faults[case.identity] = []
    # Some cases keep their claim (that is their point): every case's next press comes after it.
    log(f"faults: waiting {LEASE_WAIT_S} s for the kept claims' leases...")
    time.sleep(LEASE_WAIT_S)

    def next_presses(case):
        instance = instance_class("create-channel", {**base, "FLEX_MODE": case.mode})
        try:
            press = guest_event("channel-with-context.json", case.identity)
            return instance.invoke(press), instance.invoke(press)
        finally:
            instance.stop()

    with concurrent.futures.ThreadPoolExecutor(len(all_cases)) as pool:
        nexts = list(pool.map(next_presses, all_cases))
    rows = []
    for case, (first, (second, third)) in zip(all_cases, zip(firsts, nexts)):
        chats = twilio.chats_of(case.identity)
        assert len(chats) == 1, f"{case.name}: {len(chats)} chats in Twilio"
        sid = chats[0]
        first_status, first_body, _ = first
        assert second[0] in (200, 201) and third[0] == 200, f"{case.name}: next presses {second[:2]} {third[:2]}"
        assert second[1]["channelSid"] == sid == third[1]["channelSid"], f"{case.name}: answers {second[1]} {third[1]}, Twilio {sid}"
        if first_status == 201:
            assert first_body["channelSid"] == sid and second[0] == 200, f"{case.name}: {first_body} then {second}"
        record = records(sid)
        assert record and record["status"] == "active" and record["identity"] == case.identity, f"{case.name}: record {record}"
        chat = twilio.chat(sid)
        assert chat["webhooks"] == 1, f"{case.name}: {chat['webhooks']} chat-end webhooks on {sid}, not one"
        parts = [part for author, part in chat["messages"] if author == "bot-transcript"]
        assert len(parts) == len(set(parts)), f"{case.name}: a history part posted twice: {parts}"
        if first_status == 201 and first_body["contextDelivered"] and second[0] == 200:
            assert parts == sorted(parts) and parts, f"{case.name}: history {parts}"
        if case.mode == "interactions":
            tasks = twilio.tasks_of(case.identity)
            assert len(tasks) == 1, f"{case.name}: {len(tasks)} tasks"
            assert record.get("interactionSid") == tasks[0]["interaction"], f"{case.name}: record {record}"
        rows.append((case.name, first_status, second[0]))
    return rows


def invoke_until_killed(instance, press):
    """The press whose instance dies mid-way: there is no answer, only a dead process."""
    request_id = uuid.uuid4().hex
    instance.runtime.events.put((request_id, press))
    code = instance.process.wait(timeout=60)
    assert code != 0, "the killed instance ended by itself"
    assert instance.runtime.responses.empty(), "a killed instance answered"
    return None, {}, 0


def secrets_manager_down(env, instance_class, moto_url):
    """A cold start with Secrets Manager unreachable fails fast and says why, without a secret in
    its output; once it is back, a fresh instance opens the chat."""
    import boto3

    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead.listen()  # accepts connections and never answers: the slowest way to be down
    # The secret holds dev.env's credentials, which sign the presses' guest tokens.
    document = {k: env[k] for k in ("TWILIO_ACCOUNT_SID", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET")}
    client = boto3.client("secretsmanager", endpoint_url=moto_url, region_name="us-east-1",
                          aws_access_key_id="load", aws_secret_access_key="load")
    arn = client.create_secret(Name=f"twilio-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(document))["ARN"]
    base = {k: v for k, v in env.items() if k not in ("TWILIO_API_KEY_SECRET", "TWILIO_AUTH_TOKEN")}
    base["TWILIO_SECRET_ARN"] = arn
    down = instance_class("create-channel", {**base, "AWS_ENDPOINT_URL_SECRETS_MANAGER": f"http://127.0.0.1:{dead.getsockname()[1]}"},
                          capture_output=True)
    started = time.monotonic()
    code = down.process.wait(timeout=60)
    took = time.monotonic() - started
    output = (down.process.stdout.read() + down.process.stderr.read()).decode(errors="replace")
    down.stop()
    dead.close()
    assert code != 0 and "TWILIO_SECRET_ARN" in output, f"exit {code}: {output[-800:]}"
    assert env["TWILIO_API_KEY_SECRET"] not in output and env["TWILIO_AUTH_TOKEN"] not in output, output
    assert took < 15, f"the failed cold start took {took:.1f} s"
    up = instance_class("create-channel", {**base, "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url})
    try:
        status, body, _ = up.invoke(guest_event("channel-guest.json", f"guest-sm-{uuid.uuid4().hex[:8]}"))
    finally:
        up.stop()
    assert status == 201, body
    return took


# --- Issue 21: every press reaches a live chat ---------------------------------------------------

# A reuse asks Twilio whether its chat is live once it was last confirmed this long ago
# (LIVENESS_CHECK_AFTER_SECONDS; 60 by default, 1 here so the cases need not wait a minute).
LIVENESS_AFTER_S = 1
# A workflow SID Twilio refuses (the model's hooks answer 400): a deploy with a typo in it.
BAD_WORKFLOW = "WW" + "0" * 31 + "b"
GOOD_WORKFLOW = "WW77777777777777777777777777777777"


class WebhookRoute:
    """API Gateway's POST /twilio/webhook in front of one flex-webhook instance: Twilio's webhook
    calls become API Gateway events, and the instance's status goes back to Twilio, which retries
    as the registered URL's connection overrides say. Records each call's (chat, status)."""

    def __init__(self):
        self.calls = []  # (channel SID, status)
        self.instance = None
        outer = self

        class Route(Handler):
            def do_POST(self):
                body = self.body()
                data = json.loads(event("webhook-conversations-closed.json"))
                data["headers"]["x-twilio-signature"] = self.headers.get("x-twilio-signature", "")
                data["body"], data["isBase64Encoded"] = body.decode(), False
                status, answer, _ = outer.instance.invoke(json.dumps(data))
                fields = dict(urllib.parse.parse_qsl(body.decode()))
                outer.calls.append((fields.get("ConversationSid") or fields.get("ChannelSid"), status))
                self.reply(status, json.dumps(answer).encode(), {"content-type": "application/json"})

        self.server = Server(Route)
        self.url = f"{self.server.url()}/twilio/webhook"

    def statuses(self, sid):
        return [status for called, status in self.calls if called == sid]


class Live:
    """What the liveness cases share: the stand-ins, the functions' environment, the webhook route."""

    def __init__(self, env, moto_url, records, instance_class):
        self.twilio, self.dynamo = StatefulTwilio(env["TWILIO_AUTH_TOKEN"]), DynamoFaults(moto_url)
        self.route = WebhookRoute()
        self.records, self.instance_class, self.moto_url = records, instance_class, moto_url
        self.env = {**env, "AWS_ENDPOINT_URL_DYNAMODB": self.dynamo.url(), "TWILIO_FLEX_API_URL": self.twilio.url(),
                    "TWILIO_CHAT_API_URL": self.twilio.url(), "TWILIO_CONVERSATIONS_API_URL": self.twilio.url(),
                    "TWILIO_TASKROUTER_API_URL": self.twilio.url(), "TWILIO_DEADLINE_MS": str(TWILIO_DEADLINE_MS),
                    "TWILIO_WEBHOOK_URL": self.route.url, "LIVENESS_CHECK_AFTER_SECONDS": str(LIVENESS_AFTER_S),
                    "TWILIO_WORKFLOW_SID": GOOD_WORKFLOW}
        self.route.instance = instance_class("flex-webhook", self.env)

    def press(self, case, **overrides):
        instance = self.instance_class("create-channel", {**self.env, "FLEX_MODE": case.mode, **overrides})
        try:
            status, body, _ = instance.invoke(guest_event("channel-with-context.json", case.identity))
            return status, body
        finally:
            instance.stop()

    def end_chat(self, case, sid):
        """The customer's endChat through chat-graphql."""
        data = json.loads(guest_event("graphql-end-chat.json", case.identity))
        request = json.loads(data["body"])
        request["variables"]["channelSid"] = sid
        data["body"] = json.dumps(request)
        instance = self.instance_class("chat-graphql", self.env)
        try:
            return instance.invoke(json.dumps(data))[:2]
        finally:
            instance.stop()

    def reconcile(self):
        instance = self.instance_class("reconcile-chats", self.env)
        try:
            report, _ = instance.invoke_raw(event("reconcile-scheduled.json"))
            return report
        finally:
            instance.stop()

    def age_confirmation(self, identity, seconds):
        """The chat's last confirmation moved `seconds` back: that long without a press."""
        import boto3

        client = boto3.client("dynamodb", endpoint_url=self.moto_url, region_name="us-east-1",
                              aws_access_key_id="load", aws_secret_access_key="load")
        client.update_item(TableName=self.env["CHANNELS_TABLE"], Key={"pk": {"S": f"active#{identity}"}},
                           UpdateExpression="SET confirmedAt = confirmedAt - :age",
                           ExpressionAttributeValues={":age": {"N": str(seconds)}})

    def state(self, sid):
        with self.twilio.model.lock:
            return self.twilio.model.chats[sid]["state"]

    def ours(self, sid):
        """Our chat-end webhooks on the chat, and all of its webhooks."""
        with self.twilio.model.lock:
            hooks = self.twilio.model.chats[sid]["webhooks"]
            return sum(1 for h in hooks if h["url"].split("#")[0] == self.route.url), len(hooks)

    def add_foreign_webhooks(self, sid, count):
        with self.twilio.model.lock:
            for n in range(count):
                self.twilio.model.chats[sid]["webhooks"].append(
                    {"sid": f"WHforeign{n}", "url": f"https://studio.example/hook{n}", "filters": []})

    def lose_webhooks(self, sid, source="API"):
        """The chat ends in Twilio and its webhook never arrives."""
        assert self.twilio.model.end(sid, source), f"{sid} had no webhook to lose"

    def check_live(self, case, answer):
        """Exactly one live chat in Twilio, the one answered, recorded, with our webhook once (one
        task in interactions mode); every other chat of the customer ended, its record closed;
        the next press reuses it."""
        sid = answer["channelSid"]
        chats = self.twilio.chats_of(case.identity)
        live = [c for c in chats if self.state(c) == "active"]
        assert live == [sid], f"{case.name}: live chats {live}, answered {sid}"
        record = self.records(sid)
        assert record and record["status"] == "active" and record["identity"] == case.identity, f"{case.name}: {record}"
        ours, _ = self.ours(sid)
        assert ours == 1, f"{case.name}: {ours} chat-end webhooks of ours on {sid}"
        for other in set(chats) - {sid}:
            old = self.records(other)
            assert old is None or old["status"] == "closed", f"{case.name}: the ended {other} is recorded {old}"
        if case.mode == "interactions":
            with self.twilio.model.lock:
                task = self.twilio.model.chats[sid]["task"]
            assert task and task["status"] == "pending", f"{case.name}: task {task}"
        status, again = self.press(case)
        assert status == 200 and again["channelSid"] == sid, f"{case.name}: the next press {status} {again}"
        return len(chats)


def webhook_lost(live, case, source="API"):
    """The chat ends in Twilio (`source`: the agent, or SYSTEM: its own timers) and its webhook
    never arrives; the press after the liveness interval repairs it."""
    status, first = live.press(case)
    assert status == 201, (case.name, status, first)
    live.lose_webhooks(first["channelSid"], source)
    time.sleep(LIVENESS_AFTER_S + 0.5)
    status, second = live.press(case)
    assert status == 201 and second["channelSid"] != first["channelSid"], (case.name, status, second)
    live.check_live(case, second)
    return "201", f"201 after {LIVENESS_AFTER_S + 0.5:.1f} s, new chat (repaired by the press)"


def closed_by_timer(live, case):
    return webhook_lost(live, case, source="SYSTEM")


def webhook_5xx(live, case):
    status, first = live.press(case)
    assert status == 201, (case.name, status, first)
    sid = first["channelSid"]
    # Every attempt of the SDK's (3) fails: flex-webhook answers 503, and Twilio retries.
    live.dynamo.faults[case.identity] = [Fault("TransactWriteItems", "fail", times=3)]
    live.twilio.server.call_webhooks(live.twilio.model.end(sid))
    statuses = live.route.statuses(sid)
    assert statuses[0] >= 500 and statuses[-1] == 200, f"{case.name}: webhook statuses {statuses}"
    assert live.records(sid)["status"] == "closed", f"{case.name}: Twilio's retry closed nothing"
    status, second = live.press(case)  # at once: no liveness read needed
    assert status == 201 and second["channelSid"] != sid, (case.name, status, second)
    live.check_live(case, second)
    return "201", f"201 at once, new chat (webhook {'/'.join(map(str, statuses))}: retried by Twilio)"


def end_chat_store_fails(live, case):
    status, first = live.press(case)
    assert status == 201, (case.name, status, first)
    sid = first["channelSid"]
    live.dynamo.faults[case.identity] = [Fault("TransactWriteItems", "fail", times=10)]
    end_status, body = live.end_chat(case, sid)
    assert end_status == 503 and body["errors"][0]["extensions"]["code"] == "STORE_UNAVAILABLE", (case.name, end_status, body)
    assert live.state(sid) != "active", f"{case.name}: Twilio did not close {sid}"
    live.dynamo.faults[case.identity] = []
    time.sleep(LIVENESS_AFTER_S + 0.5)
    status, second = live.press(case)
    assert status == 201 and second["channelSid"] != sid, (case.name, status, second)
    live.check_live(case, second)
    return f"endChat {end_status} STORE_UNAVAILABLE", f"201 after {LIVENESS_AFTER_S + 0.5:.1f} s, new chat (repaired by the press)"


def reconciled(live, case):
    status, first = live.press(case)
    assert status == 201, (case.name, status, first)
    sid = first["channelSid"]
    live.lose_webhooks(sid)
    live.age_confirmation(case.identity, 3600)
    report = live.reconcile()
    assert report["repaired"] + report["alreadyClosed"] >= 1, f"{case.name}: {report}"
    assert live.records(sid)["status"] == "closed", f"{case.name}: the reconciler left {sid} open: {report}"
    status, second = live.press(case)  # at once: the record is closed already
    assert status == 201 and second["channelSid"] != sid, (case.name, status, second)
    live.check_live(case, second)
    return "201", "201 at once, new chat (closed by the reconciler, no press needed)"


def five_webhooks_takeover(live, case):
    # The instance dies after the chat exists (and its webhook may be on it): the claim stays.
    kill_after = Fault("interaction" if case.mode == "interactions" else "history message", "kill")
    live.twilio.faults[case.identity] = [kill_after]
    instance = live.instance_class("create-channel", {**live.env, "FLEX_MODE": case.mode})
    live.twilio.kill[case.identity] = instance.process.kill
    try:
        invoke_until_killed(instance, guest_event("channel-with-context.json", case.identity))
    finally:
        instance.stop()
    live.twilio.faults[case.identity] = []
    [sid] = live.twilio.chats_of(case.identity)
    ours, total = live.ours(sid)
    # Others' webhooks (Studio, Flex's own) fill the chat to Twilio's five.
    live.add_foreign_webhooks(sid, 5 - total if ours else 4)
    time.sleep(LEASE_WAIT_S)
    status, second = live.press(case)
    assert status == 201 and second["channelSid"] == sid, (case.name, status, second)
    ours, total = live.ours(sid)
    assert (ours, total) == (1, 5), f"{case.name}: {ours} of ours among {total} webhooks"
    live.check_live(case, second)
    return "killed", "201 after the lease, the same chat, 5 webhooks (ours once)"


def interactions_refused_then_fixed(live, case):
    status, first = live.press(case, TWILIO_WORKFLOW_SID=BAD_WORKFLOW)
    assert status == 502, (case.name, status, first)
    [sid] = live.twilio.chats_of(case.identity)
    time.sleep(LEASE_WAIT_S)
    status, second = live.press(case)  # the fixed deploy
    assert status == 201 and second["channelSid"] == sid, (case.name, status, second)
    live.check_live(case, second)
    return "502", "201 after the lease, the same conversation, one task"


def interactions_refused_closed_then_fixed(live, case):
    status, first = live.press(case, TWILIO_WORKFLOW_SID=BAD_WORKFLOW)
    assert status == 502, (case.name, status, first)
    [sid] = live.twilio.chats_of(case.identity)
    live.lose_webhooks(sid, source="SYSTEM")  # its timers close it before anyone fixes the deploy
    time.sleep(LEASE_WAIT_S)
    status, second = live.press(case)
    assert status == 201 and second["channelSid"] != sid, (case.name, status, second)
    live.check_live(case, second)
    return "502", "201 after the lease, a fresh handoff (new conversation), one task"


class LiveCase:
    """One customer, one way a chat's end can fail to reach us: `script(live, case)` plays it and
    answers the report's (first, then) cells."""

    def __init__(self, name, mode, script):
        self.name, self.mode, self.script = name, mode, script
        self.identity = f"guest-live-{uuid.uuid4().hex[:12]}"


def liveness_cases():
    modes = list(CREATE_ROUTES)
    found = [LiveCase(f"{mode}: chat ended, webhook lost", mode, webhook_lost) for mode in modes]
    found += [LiveCase(f"{mode}: webhook answered 5xx (DynamoDB down)", mode, webhook_5xx) for mode in modes]
    found += [LiveCase(f"{mode}: endChat closed in Twilio, DynamoDB failed", mode, end_chat_store_fails) for mode in modes]
    found += [LiveCase(f"{mode}: chat ended, no press, reconciler", mode, reconciled) for mode in modes]
    found += [LiveCase(f"{mode}: conversation closed by its timers, webhook lost", mode, closed_by_timer)
              for mode in ("conversations", "interactions")]
    found += [LiveCase(f"{mode}: takeover of a chat with 5 webhooks", mode, five_webhooks_takeover)
              for mode in ("conversations", "interactions")]
    found += [LiveCase("interactions: Interaction 400 (bad workflow), then fixed", "interactions", interactions_refused_then_fixed),
              LiveCase("interactions: Interaction 400, conversation closed by timers, then fixed", "interactions",
                   interactions_refused_closed_then_fixed)]
    return found


def liveness_run(env, moto_url, records, instance_class):
    """Runs every liveness case, concurrently; returns the report's rows. Raises on the first
    broken promise."""
    live = Live(env, moto_url, records, instance_class)
    all_cases = liveness_cases()
    log(f"liveness: {len(all_cases)} cases across 3 modes...")
    try:
        with concurrent.futures.ThreadPoolExecutor(len(all_cases)) as pool:
            outcomes = list(pool.map(lambda case: case.script(live, case), all_cases))
    finally:
        live.route.instance.stop()
    return [(case.name, first, then) for case, (first, then) in zip(all_cases, outcomes)]
