"""`make bench`: measures flex-handoff beside its references in one run and writes BENCHMARKS.md.

Cold init: each release binary is started under a local Lambda Runtime API emulator (this file)
and timed from process start to its first `GET /runtime/invocation/next`; the first event is
then answered and timed too. Targets are run round-robin (interleaved), RUNS times each: the
hello-world `lambda_http` floor (shared/examples/hello_floor.rs, same release profile), each
function, generate-token reading its secret from Secrets Manager (moto on loopback), and the
Node.js reference (tools/bench/node-reference.js: the `twilio` helper library, a chat token).
Then peak RSS after init and after WARM warm invocations, round trips per request (counted by a
DynamoDB proxy in front of moto and a Twilio stand-in), arm64 artifact sizes (cargo lambda),
and the criterion hot paths. Nothing here is a test: numbers are reported, targets are compared.
"""

import datetime
import json
import os
import pathlib
import platform
import queue
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import jwt as pyjwt

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
RUNS = int(os.environ.get("BENCH_RUNS", "40"))
WARM = int(os.environ.get("BENCH_WARM", "1000"))
FUNCTIONS = ["generate-token", "create-channel", "flex-webhook", "chat-graphql"]


def log(message):
    print(message, file=sys.stderr, flush=True)


def dev_env():
    pairs = [l.split("=", 1) for l in (ROOT / "local/dev.env").read_text().splitlines() if l and not l.startswith("#")]
    return {k: v for k, v in pairs}


def event(name):
    return (ROOT / "events" / name).read_text()


def guest_event(name, identity):
    """An events/ file with a fresh guest token for `identity` (signed with dev.env's key)."""
    env = dev_env()
    now = int(time.time())
    claims = {"jti": f"{env['TWILIO_API_KEY_SID']}-{now}", "iss": env["TWILIO_API_KEY_SID"], "sub": env["TWILIO_ACCOUNT_SID"],
              "iat": now, "nbf": now, "exp": now + 3600,
              "grants": {"identity": identity, "chat": {"service_sid": env["TWILIO_CHAT_SERVICE_SID"]}}}
    token = pyjwt.encode(claims, env["TWILIO_API_KEY_SECRET"], algorithm="HS256", headers={"cty": "twilio-fpa;v=1"})
    data = json.loads(event(name))
    data["headers"]["authorization"] = f"Bearer {token}"
    return json.dumps(data)


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A function process killed between runs resets its long poll: expected, not news.
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)


class Server:
    """A ThreadingHTTPServer on a free loopback port, in a daemon thread."""

    def __init__(self, handler):
        self.httpd = QuietServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


class Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, status, payload=b"", headers=None):
        # One write for status, headers and body: split writes meet delayed ACKs and add tens
        # of milliseconds that belong to this harness, not to the function measured.
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(payload)))
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(payload)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []


class RuntimeApi:
    """Lambda's Runtime API, as much as a function uses: hands out queued events, collects answers."""

    def __init__(self):
        self.events = queue.Queue()
        self.responses = queue.Queue()
        self.first_next = None
        self.served = {}
        outer = self

        class Handler(Quiet):
            def do_GET(self):
                arrived = time.perf_counter_ns()
                if outer.first_next is None:
                    outer.first_next = arrived
                while True:
                    try:
                        request_id, payload = outer.events.get(timeout=0.5)
                        break
                    except queue.Empty:
                        if outer.closed:
                            return
                outer.served[request_id] = time.perf_counter_ns()
                self.reply(200, payload.encode(), {
                    "content-type": "application/json",
                    "lambda-runtime-aws-request-id": request_id,
                    "lambda-runtime-deadline-ms": str(int(time.time() * 1000) + 60000),
                    "lambda-runtime-invoked-function-arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                })

            def do_POST(self):
                done = time.perf_counter_ns()
                payload = self.body()
                request_id = self.path.split("/")[4]
                self.reply(202)
                outer.responses.put((request_id, done, payload))

        self.closed = False
        self.server = Server(Handler)

    def close(self):
        self.closed = True
        self.server.httpd.shutdown()
        self.server.httpd.server_close()

    def address(self):
        return f"127.0.0.1:{self.server.port}"


def rss_kib(pid):
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


class Run:
    """One cold start of one target: init time, first-invocation latency, RSS; optional warm loop."""

    def __init__(self, command, env, first_event, warm_events=None):
        # A fresh emulator per run: a killed process's pending long poll must not take the
        # next run's event.
        runtime = RuntimeApi()
        runtime.events.put(("first", first_event))
        lambda_env = {"AWS_LAMBDA_RUNTIME_API": runtime.address(), "AWS_LAMBDA_FUNCTION_NAME": "bench",
                      "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                      "PATH": os.environ["PATH"], "RUST_LOG": "error"}
        start = time.perf_counter_ns()
        process = subprocess.Popen(command, env={**env, **lambda_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            request_id, done, payload = runtime.responses.get(timeout=60)
            self.init_ms = (runtime.first_next - start) / 1e6
            self.first_ms = (done - runtime.served["first"]) / 1e6
            self.response = json.loads(payload)
            self.status = self.response.get("statusCode")
            self.rss_init_kib, self.hwm_init_kib = rss_kib(process.pid)
            if warm_events:
                for i in range(WARM):
                    runtime.events.put((f"warm-{i}", warm_events(i)))
                for _ in range(WARM):
                    runtime.responses.get(timeout=60)
                self.rss_warm_kib, self.hwm_warm_kib = rss_kib(process.pid)
        except queue.Empty:
            process.kill()
            raise SystemExit(f"{command[0]} did not answer: {process.stderr.read().decode()[-2000:]}")
        finally:
            process.kill()
            process.wait()
            runtime.close()


class Counter:
    def __init__(self):
        self.counts = {}
        self.lock = threading.Lock()

    def add(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def take(self):
        with self.lock:
            counts, self.counts = self.counts, {}
        return counts


def forward(moto_url, handler, body):
    """Sends an AWS JSON call `handler` received on to moto: (status, payload, reply headers)."""
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length")}
    request = urllib.request.Request(moto_url + handler.path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            status, payload, ctype = response.status, response.read(), response.headers.get("content-type")
    except urllib.error.HTTPError as error:
        status, payload, ctype = error.code, error.read(), error.headers.get("content-type")
    return status, payload, {"content-type": ctype or "application/x-amz-json-1.0"}


def wait_for_moto(moto_url):
    for _ in range(200):
        try:
            urllib.request.urlopen(moto_url + "/moto-api/", timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"moto did not start at {moto_url}")


def aws_proxy(moto_url, counter, round_trips=None):
    """Forwards AWS JSON calls to moto, counting them by X-Amz-Target; with `round_trips`, also
    records each call's time from its arrival to the answer (moto's work plus this hop)."""
    class Proxy(Quiet):
        def do_POST(self):
            arrived = time.perf_counter_ns()
            counter.add(self.headers.get("x-amz-target", "?").split(".")[-1])
            status, payload, headers = forward(moto_url, self, self.body())
            self.reply(status, payload, headers)
            if round_trips is not None:
                round_trips.append((time.perf_counter_ns() - arrived) / 1e6)
    return Server(Proxy)


def twilio_stand_in(counter):
    class Twilio(Quiet):
        def do_GET(self):
            counter.add(f"GET {self.path.split('?')[0]}")
            self.reply(200, b'{"conversations": [], "meta": {}}', {"content-type": "application/json"})

        def do_POST(self):
            self.body()
            path = self.path.split("?")[0]
            counter.add(f"POST {'/'.join(p if not p.startswith('CH') else '{CH}' for p in path.split('/'))}")
            sid = "CH" + uuid.uuid4().hex
            self.reply(201, json.dumps({"conversation_sid": sid, "sid": sid}).encode(), {"content-type": "application/json"})
    return Server(Twilio)


TWILIO_DELAY_S = 0.100
HANDOFF_PRESSES = int(os.environ.get("BENCH_HANDOFF_PRESSES", "15"))


def slow_twilio(calls):
    """A Twilio stand-in for every mode that answers each call after TWILIO_DELAY_S, as Twilio from
    a nearby region would, and records each call's (arrival, answer) times in `calls`."""
    lock = threading.Lock()

    class Twilio(Quiet):
        def handle_call(self, method):
            arrived = time.perf_counter()
            if method == "POST":
                self.body()
            path = self.path.split("?")[0]
            time.sleep(TWILIO_DELAY_S)
            sid = uuid.uuid4().hex
            if method == "GET" and "/FlexFlows/" in path:
                answer = {"channel_type": "web", "enabled": True}
            elif method == "GET":
                answer = {"conversations": [], "messages": [], "tasks": [], "meta": {}}
            elif path.endswith("/v1/Interactions"):
                answer = {"sid": "KD" + sid, "channel": {"type": "web", "sid": "UO" + sid}}
            else:
                answer = {"conversation_sid": "CH" + sid, "sid": "CH" + sid}
            self.reply(201 if method == "POST" else 200, json.dumps(answer).encode(), {"content-type": "application/json"})
            with lock:
                calls.append((arrived, time.perf_counter()))

        def do_GET(self):
            self.handle_call("GET")

        def do_POST(self):
            self.handle_call("POST")
    return Server(Twilio)


def sequential_round_trips(calls):
    """The longest chain of calls each made after the one before it was answered: the round
    trips a press waits for one after another."""
    calls = sorted(calls)
    depth = []
    for i, (arrived, _) in enumerate(calls):
        before = [depth[j] for j in range(i) if calls[j][1] <= arrived]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


def handoff_latency(env, moto_url):
    """Press-to-answer of a new chat per Flex mode, with and without a typical transcript (20
    messages, ~2,000 characters), through the release create-channel binary with Twilio 100 ms away."""
    log(f"handoff latency: {HANDOFF_PRESSES} new chats per mode and context, Twilio +{TWILIO_DELAY_S * 1000:.0f} ms per call...")
    typical = [{"author": "customer" if i % 2 == 0 else "bot", "body": f"message {i:02} " + "x" * 89,
                "at": f"2026-12-04T10:{i:02}:00Z"} for i in range(20)]
    contexts = {"empty context": None,
                "20-message transcript": {"intent": "roaming_no_data", "locale": "en-GB", "transcript": typical}}
    aws = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_ENDPOINT_URL_DYNAMODB": moto_url, "CHANNELS_TABLE": "bench-channels"}
    results = {}
    for mode in ["conversations", "interactions", "chat"]:
        calls = []
        twilio = slow_twilio(calls)
        hosts = {k: f"http://127.0.0.1:{twilio.port}" for k in
                 ["TWILIO_FLEX_API_URL", "TWILIO_CHAT_API_URL", "TWILIO_CONVERSATIONS_API_URL", "TWILIO_TASKROUTER_API_URL"]}
        runtime = RuntimeApi()
        lambda_env = {"AWS_LAMBDA_RUNTIME_API": runtime.address(), "AWS_LAMBDA_FUNCTION_NAME": "bench",
                      "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                      "PATH": os.environ["PATH"], "RUST_LOG": "error", "FLEX_MODE": mode}
        process = subprocess.Popen([str(TARGET / "release" / "create-channel")], env={**env, **aws, **hosts, **lambda_env},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for label, context in contexts.items():
                times, trips, counts = [], [], []
                for i in range(HANDOFF_PRESSES + 1):
                    data = json.loads(guest_event("channel-guest.json", f"guest-{uuid.uuid4()}"))
                    data["body"] = json.dumps({"context": context} if context else {})
                    calls.clear()
                    request_id = f"{mode}-{label.split()[0]}-{i}"
                    runtime.events.put((request_id, json.dumps(data)))
                    got, done, payload = runtime.responses.get(timeout=60)
                    assert got == request_id
                    answer = json.loads(payload)
                    assert answer.get("statusCode") == 201, f"{mode}: {answer}"
                    body = json.loads(answer["body"])
                    assert body.get("contextDelivered") is True, f"{mode}: {body}"
                    if i == 0:
                        continue  # the first press also pays for the process's first connections
                    times.append((done - runtime.served[request_id]) / 1e6)
                    trips.append(sequential_round_trips(calls))
                    counts.append(len(calls))
                results[(mode, label)] = {"ms": spread(times), "trips": max(trips), "calls": max(counts)}
        except queue.Empty:
            raise SystemExit(f"create-channel ({mode}) did not answer: {process.stderr.read().decode()[-2000:]}")
        finally:
            process.kill()
            process.wait()
            runtime.close()
            twilio.httpd.shutdown()
    return results


def spread(values):
    values = sorted(values)
    q = statistics.quantiles(values, n=10)
    return {"median": statistics.median(values), "p10": q[0], "p90": q[-1], "min": values[0], "max": values[-1]}


def build():
    log("building release binaries and the floor...")
    subprocess.run(["cargo", "build", "--release", "--locked", *sum((["-p", f] for f in FUNCTIONS), [])], check=True, cwd=ROOT)
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "flex-handoff", "--example", "hello_floor"], check=True, cwd=ROOT)


def artifacts():
    log("building arm64 artifacts with cargo lambda...")
    arch, note = "arm64", ""
    if subprocess.run(["rustup", "target", "add", "aarch64-unknown-linux-gnu"], capture_output=True).returncode != 0:
        arch, note = "x86_64", "the aarch64 Rust target could not be installed here: sizes are x86_64"
    flags = ["--arm64"] if arch == "arm64" else ["--x86-64"]
    sizes = {}
    for function in FUNCTIONS:
        subprocess.run(["cargo", "lambda", "build", "--release", "--locked", *flags, "--output-format", "zip", "--bin", function],
                       check=True, cwd=ROOT, capture_output=True)
        triple = "aarch64-unknown-linux-gnu" if arch == "arm64" else "x86_64-unknown-linux-gnu"
        binary = TARGET / triple / "release" / function
        archive = TARGET / "lambda" / function / "bootstrap.zip"
        sizes[function] = {"bootstrap": binary.stat().st_size, "zip": archive.stat().st_size}
    return arch, note, sizes


def criterion():
    log("running criterion hot-path benchmarks...")
    subprocess.run(["cargo", "bench", "--locked", "-p", "flex-handoff", "--bench", "hot_paths", "--",
                    "--warm-up-time", "2", "--measurement-time", "5"], check=True, cwd=ROOT, capture_output=True)
    results = {}
    for name in ["token/mint", "token/verify", "webhook/signature_check", "request/parse_and_resolve_identity"]:
        estimates = json.loads((TARGET / "criterion" / name / "new" / "estimates.json").read_text())
        results[name] = estimates["median"]["point_estimate"]
    return results


def signed_close_event(env, channel_sid):
    """The Conversations chat-end webhook for `channel_sid`, signed as Twilio would sign it."""
    from twilio.request_validator import RequestValidator

    params = {"EventType": "onConversationStateUpdated", "ConversationSid": channel_sid, "StateFrom": "active", "StateTo": "closed"}
    signature = RequestValidator(env["TWILIO_AUTH_TOKEN"]).compute_signature(env["TWILIO_WEBHOOK_URL"], params)
    data = json.loads(event("webhook-conversations-closed.json"))
    data["headers"]["x-twilio-signature"] = signature
    data["body"] = urllib.parse.urlencode(params)
    data["isBase64Encoded"] = False
    return json.dumps(data)


def main():
    build()
    env = dev_env()
    with subprocess.Popen([sys.executable, str(ROOT / "local/moto_atomic.py"), "-H", "127.0.0.1", "-p", str(free_port())], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as moto:
        try:
            moto_url = f"http://127.0.0.1:{moto.args[-1]}"
            cold, warm, trips = measure(env, moto_url)
            handoff = handoff_latency(env, moto_url)
        finally:
            moto.kill()
    arch, arch_note, sizes = artifacts()
    hot = criterion()
    report(cold, warm, trips, handoff, arch, arch_note, sizes, hot)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(env, moto_url):
    wait_for_moto(moto_url)
    table = "bench-channels"
    subprocess.run([sys.executable, str(ROOT / "local/create_table.py"), moto_url, table], check=True)
    aws = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    secrets = boto3.client("secretsmanager", endpoint_url=moto_url, region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
    credential_vars = ["TWILIO_ACCOUNT_SID", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET", "TWILIO_AUTH_TOKEN"]
    secret_arn = secrets.create_secret(Name="bench/twilio", SecretString=json.dumps({k: env[k] for k in credential_vars}))["ARN"]

    dynamo_counter, twilio_counter = Counter(), Counter()
    proxy = aws_proxy(moto_url, dynamo_counter)
    secret_round_trips = []
    secrets_proxy = aws_proxy(moto_url, Counter(), secret_round_trips)
    twilio = twilio_stand_in(twilio_counter)
    hosts = ["TWILIO_FLEX_API_URL", "TWILIO_CHAT_API_URL", "TWILIO_CONVERSATIONS_API_URL"]
    local = {**aws, "CHANNELS_TABLE": table, "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{proxy.port}",
             **{k: f"http://127.0.0.1:{twilio.port}" for k in hosts}}
    from_secret = {k: v for k, v in env.items() if k not in credential_vars}
    release = TARGET / "release"
    token_event = lambda: event("token-new-guest.json")  # noqa: E731
    targets = {
        FLOOR: ([str(release / "examples" / "hello_floor")], {}, token_event),
        "generate-token": ([str(release / "generate-token")], dict(env), token_event),
        SECRET: ([str(release / "generate-token")],
                 {**from_secret, **aws, "TWILIO_SECRET_ARN": secret_arn,
                  "AWS_ENDPOINT_URL_SECRETS_MANAGER": f"http://127.0.0.1:{secrets_proxy.port}"},
                 token_event),
        "create-channel": ([str(release / "create-channel")], {**env, **local},
                           lambda: guest_event("channel-guest.json", f"guest-{uuid.uuid4()}")),
        "flex-webhook": ([str(release / "flex-webhook")], {**env, **local}, lambda: event("webhook-legacy-inactive.json")),
        "chat-graphql": ([str(release / "chat-graphql")], {**env, **local},
                         lambda: guest_event("graphql-my-chats.json", f"guest-{uuid.uuid4()}")),
        NODE: (["node", str(ROOT / "tools/bench/node-reference.js")],
               {**env, "NODE_PATH": str(ROOT / "tools/npm/node_modules")}, token_event),
    }
    cold = {name: [] for name in targets}
    cold[SECRET_NET] = []
    log(f"cold starts: {RUNS} rounds over {len(targets)} targets, interleaved in random order...")
    for _ in range(RUNS):
        order = list(targets)
        random.shuffle(order)
        for name in order:
            command, target_env, first = targets[name]
            secret_round_trips.clear()
            run = Run(command, target_env, first())
            assert run.status in (200, 201), f"{name} answered {run.status}: {run.response}"
            cold[name].append(run)
            if name == SECRET:
                assert len(secret_round_trips) == 1, f"{name}: {len(secret_round_trips)} Secrets Manager calls"
                cold[SECRET_NET].append(NetRun(run, secret_round_trips[0]))

    log(f"memory: {WARM} warm invocations per target...")
    reuse = guest_event("channel-guest.json", "guest-bench-warm")
    my_chats = guest_event("graphql-my-chats.json", "guest-bench-warm")
    warm_events = {
        FLOOR: lambda i: event("token-new-guest.json"),
        "generate-token": lambda i: event("token-new-guest.json"),
        "create-channel": lambda i: reuse,
        "flex-webhook": lambda i: event("webhook-legacy-inactive.json"),
        "chat-graphql": lambda i: my_chats,
        NODE: lambda i: event("token-new-guest.json"),
    }
    warm = {}
    for name, make in warm_events.items():
        command, target_env, first = targets[name]
        warm[name] = Run(command, target_env, first(), make)

    log("round trips per request...")
    identity = f"guest-{uuid.uuid4()}"
    trips = {}

    def count(label, name, payload):
        dynamo_counter.take()
        twilio_counter.take()
        command, target_env, _ = targets[name]
        run = Run(command, target_env, payload)
        trips[label] = {"status": run.status, "dynamodb": dynamo_counter.take(), "twilio": twilio_counter.take()}
        return run

    count("generate-token: new guest", "generate-token", event("token-new-guest.json"))
    opened = count("create-channel: new chat", "create-channel", guest_event("channel-guest.json", identity))
    count("create-channel: reuse", "create-channel", guest_event("channel-guest.json", identity))
    channel_sid = json.loads(opened.response["body"])["channelSid"]
    count("flex-webhook: close", "flex-webhook", signed_close_event(dict(targets["flex-webhook"][1]), channel_sid))
    # The customer's side over GraphQL, on a chat of their own.
    customer = f"guest-{uuid.uuid4()}"
    command, target_env, _ = targets["create-channel"]
    customers_chat = json.loads(Run(command, target_env, guest_event("channel-guest.json", customer)).response["body"])["channelSid"]
    count("chat-graphql: my chats", "chat-graphql", guest_event("graphql-my-chats.json", customer))
    end = json.loads(guest_event("graphql-end-chat.json", customer))
    end["body"] = json.dumps({**json.loads(end["body"]), "variables": {"channelSid": customers_chat}})
    count("chat-graphql: end chat", "chat-graphql", json.dumps(end))
    return cold, warm, trips


FLOOR = "floor (hello lambda_http)"
SECRET = "generate-token, secret from Secrets Manager"
SECRET_NET = "generate-token, secret from Secrets Manager, its round trip subtracted"


class NetRun:
    """A Secrets Manager cold start less the GetSecretValue round trip the proxy timed."""

    def __init__(self, run, round_trip_ms):
        self.init_ms = run.init_ms - round_trip_ms
        self.first_ms = run.first_ms
NODE = "Node.js reference (twilio helper library)"


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    mem = next(l.split(":", 1)[1].strip() for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    versions = {
        "rustc": subprocess.check_output(["rustc", "--version"]).decode().strip(),
        "node": subprocess.check_output(["node", "--version"]).decode().strip(),
        "python": platform.python_version(),
    }
    return f"{os.cpu_count()} cores, {cpu}, {mem} memory, Linux {platform.release()}", versions


def mib(kib):
    return kib / 1024


def report(cold, warm, trips, handoff, arch, arch_note, sizes, hot):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    box, versions = machine()
    init = {name: spread([r.init_ms for r in runs]) for name, runs in cold.items()}
    first = {name: spread([r.first_ms for r in runs]) for name, runs in cold.items()}
    floor, node = init[FLOOR]["median"], init[NODE]["median"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` on {date}. Machine: {box}. {versions['rustc']}, Node {versions['node']}, "
        f"Python {versions['python']}. Do not edit: run `make bench` again.",
        "",
        "## Method",
        "",
        f"- **Cold init**: each release binary (the workspace's size-tuned profile, built for this {platform.machine()}",
        "  machine; the arm64 builds are measured for size only) is started under a local Lambda",
        "  Runtime API emulator (`tools/bench/bench.py`) and timed from process start to its first",
        "  `GET /runtime/invocation/next`. Targets run interleaved, in a random order each round,",
        f"  {RUNS} rounds. The floor is a hello-world `lambda_http` binary with the same profile",
        "  (`shared/examples/hello_floor.rs`); the Node.js reference loads Twilio's `twilio` helper library and",
        "  mints a chat token per event (`tools/bench/node-reference.js`), as the public Node backends do.",
        "- **First invocation**: from the emulator handing out the first event to the function's response. Local",
        "  servers stand in for AWS and Twilio: moto for DynamoDB and Secrets Manager (each behind a counting proxy;",
        "  the Secrets Manager proxy also times the one GetSecretValue call, from its arrival to the answer, which the",
        "  'round trip subtracted' row takes off that target's init),",
        "  a Python stand-in for Twilio. Their latency is a loopback Python server's, not AWS's or Twilio's.",
        f"- **Memory**: `VmRSS`/`VmHWM` from `/proc` right after the first invocation and after {WARM} more warm",
        "  invocations (create-channel: the reuse path; flex-webhook: a signed event for an unknown chat;",
        "  chat-graphql: a customer's identity, active chat and first page of chats).",
        "- **Round trips**: DynamoDB calls counted by `X-Amz-Target` at the proxy; Twilio calls at the stand-in.",
        f"- **Size**: `cargo lambda build --release --{ 'arm64' if arch == 'arm64' else 'x86-64'} --output-format zip`."
        + (f" Note: {arch_note}." if arch_note else ""),
        "- **Hot paths**: criterion (`shared/benches/hot_paths.rs`), median time per operation, one core.",
        "",
        "## Cold init (ms, process start to first `next`)",
        "",
        "| target | median | p10 | p90 | min | max | vs floor | Node is this many times slower |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in init.items():
        lines.append(f"| {name} | {s['median']:.2f} | {s['p10']:.2f} | {s['p90']:.2f} | {s['min']:.2f} | {s['max']:.2f} | "
                     f"{s['median'] / floor:.2f}x | {node / s['median']:.1f}x |")
    lines += ["", "## First invocation after init (ms)", "", "| target | median | p10 | p90 | min | max |", "|---|---|---|---|---|---|"]
    for name, s in first.items():
        lines.append(f"| {name} | {s['median']:.2f} | {s['p10']:.2f} | {s['p90']:.2f} | {s['min']:.2f} | {s['max']:.2f} |")
    lines += ["", "Cold start the customer waits for (init + first invocation, medians):", ""]
    for name in init:
        lines.append(f"- {name}: {init[name]['median'] + first[name]['median']:.1f} ms")
    lines += ["", f"## Memory (MiB)", "", f"| target | RSS after init | peak after init | RSS after {WARM} | peak after {WARM} | growth |",
              "|---|---|---|---|---|---|"]
    for name, run in warm.items():
        lines.append(f"| {name} | {mib(run.rss_init_kib):.1f} | {mib(run.hwm_init_kib):.1f} | {mib(run.rss_warm_kib):.1f} | "
                     f"{mib(run.hwm_warm_kib):.1f} | {mib(run.rss_warm_kib - run.rss_init_kib):+.2f} |")
    lines += ["", f"## Artifacts ({arch})", "", "| function | bootstrap (MiB) | zip (MiB) |", "|---|---|---|"]
    for name, size in sizes.items():
        lines.append(f"| {name} | {size['bootstrap'] / 2**20:.2f} | {size['zip'] / 2**20:.2f} |")
    lines += ["", "## Hot paths (criterion, one core)", "", "| operation | median | per second |", "|---|---|---|"]
    for name, ns in hot.items():
        lines.append(f"| {name} | {ns / 1000:.2f} µs | {1e9 / ns:,.0f} |")
    lines += ["", "## Round trips per request", "", "| request | status | DynamoDB calls | Twilio calls |", "|---|---|---|---|"]
    for label, t in trips.items():
        dynamo = ", ".join(f"{k} {v}" for k, v in sorted(t["dynamodb"].items())) or "none"
        tw = ", ".join(f"{k} {v}" for k, v in sorted(t["twilio"].items())) or "none"
        lines.append(f"| {label} | {t['status']} | {dynamo} | {tw} |")

    lines += ["", f"## Handoff latency (Twilio {TWILIO_DELAY_S * 1000:.0f} ms away)", "",
              f"A new chat per press, {HANDOFF_PRESSES} presses per row after one warm-up, through the release create-channel",
              f"binary; every Twilio call is answered after {TWILIO_DELAY_S * 1000:.0f} ms. Sequential round trips: the longest chain of",
              "Twilio calls each made after the previous one was answered (concurrent calls count once).", "",
              "| mode | context | median ms | p90 ms | sequential Twilio round trips | Twilio calls |", "|---|---|---|---|---|---|"]
    for (mode, label), r in handoff.items():
        lines.append(f"| {mode} | {label} | {r['ms']['median']:.0f} | {r['ms']['p90']:.0f} | {r['trips']} | {r['calls']} |")

    worst = max(init[f]["median"] for f in FUNCTIONS)
    fastest_ratio = min(node / init[f]["median"] for f in FUNCTIONS)
    peak = max(mib(r.hwm_warm_kib) for n, r in warm.items() if n in FUNCTIONS)
    growth = max(mib(r.rss_warm_kib - r.rss_init_kib) for n, r in warm.items() if n in FUNCTIONS)
    largest = max(s["bootstrap"] for s in sizes.values()) / 2**20
    new = trips["create-channel: new chat"]
    reuse = trips["create-channel: reuse"]
    mine = trips["chat-graphql: my chats"]
    reads = lambda t: t["dynamodb"].get("GetItem", 0)  # noqa: E731
    def verdict(ok):
        return "met" if ok else "**missed**"
    lines += [
        "", "## Targets", "", "| target | measured | verdict |", "|---|---|---|",
        f"| cold init of every function <= 1.2x the floor | worst {worst:.2f} ms = {worst / floor:.2f}x of {floor:.2f} ms | {verdict(worst <= 1.2 * floor)} |",
        f"| cold init >= 20x faster than the Node.js reference | Node {node:.1f} ms, at least {fastest_ratio:.1f}x slower | {verdict(fastest_ratio >= 20)} |",
        f"| peak RSS <= 16 MiB per function, no growth over {WARM} invocations | peak {peak:.1f} MiB, RSS growth at most {growth:+.2f} MiB | {verdict(peak <= 16 and growth < 1)} |",
        f"| {arch} bootstrap <= 8 MiB per function | largest {largest:.2f} MiB | {verdict(largest <= 8)} |",
        f"| token mint and verify >= 300,000/s | {1e9 / hot['token/mint']:,.0f} and {1e9 / hot['token/verify']:,.0f} per second | {verdict(min(1e9 / hot['token/mint'], 1e9 / hot['token/verify']) >= 300000)} |",
        f"| signature check >= 500,000/s | {1e9 / hot['webhook/signature_check']:,.0f} per second | {verdict(1e9 / hot['webhook/signature_check'] >= 500000)} |",
        f"| reuse: 1 DynamoDB read, no Twilio call | {sum(reuse['dynamodb'].values())} DynamoDB call(s), {sum(reuse['twilio'].values())} Twilio | {verdict(reuse['dynamodb'] == {'GetItem': 1} and not reuse['twilio'])} |",
        f"| interactions, no transcript: <= 3 sequential Twilio round trips | {handoff[('interactions', 'empty context')]['trips']} | "
        f"{verdict(handoff[('interactions', 'empty context')]['trips'] <= 3)} |",
        f"| a 20-message transcript adds <= 1 sequential round trip, every mode | "
        + ", ".join(f"{m} +{handoff[(m, '20-message transcript')]['trips'] - handoff[(m, 'empty context')]['trips']}" for m in ("conversations", "interactions", "chat"))
        + f" | {verdict(all(handoff[(m, '20-message transcript')]['trips'] - handoff[(m, 'empty context')]['trips'] <= 1 for m in ('conversations', 'interactions', 'chat')))} |",
        f"| new chat: <= 1 read, 1 conditional write (+1 update), 2 Twilio calls | {reads(new)} read(s), {sum(new['dynamodb'].values()) - reads(new)} write(s), {sum(new['twilio'].values())} Twilio | "
        f"{verdict(reads(new) <= 1 and sum(new['dynamodb'].values()) - reads(new) <= 2 and sum(new['twilio'].values()) <= 2)} |",
        f"| my chats: 1 read of the slot, 1 index Query, no Twilio call | {', '.join(f'{k} {v}' for k, v in sorted(mine['dynamodb'].items()))}; {sum(mine['twilio'].values())} Twilio | "
        f"{verdict(mine['dynamodb'] == {'GetItem': 1, 'Query': 1} and not mine['twilio'] and mine['status'] == 200)} |",
        "",
    ]
    notes = ROOT / "tools/bench/notes.md"
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    text = "\n".join(lines)
    # `make load`'s last figures stay in BENCHMARKS.md when the rest is measured anew.
    load = ROOT / "tools/load/results.md"
    if load.exists():
        text = text.rstrip() + "\n\n" + load.read_text()
    (ROOT / "BENCHMARKS.md").write_text(text)
    log("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
