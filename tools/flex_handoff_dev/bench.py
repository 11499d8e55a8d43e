"""`make bench`: measures flex-handoff beside its references in one run and writes BENCHMARKS.md.

Cold init: each release binary is started under the Lambda Runtime API emulator (runtime_api)
and timed from process start to its first `GET /runtime/invocation/next`; the first event is
then answered and timed too. Targets are run round-robin (interleaved), RUNS times each: the
hello-world `lambda_http` floor (shared/examples/hello_floor.rs, same release profile), each
function, generate-token reading its secret from Secrets Manager (moto on loopback), and the
Node.js reference (tools/bench/node-reference.js: the `twilio` helper library, a chat token).
Then the instructions each binary executes before its first `next` (callgrind: the deterministic
figure), peak RSS after init and after WARM warm invocations, round trips per request (counted by
a DynamoDB proxy in front of moto and by hooks on the Twilio model), arm64 artifact sizes (cargo
lambda), and the criterion hot paths. Nothing here is a test: numbers are reported, targets are compared.
"""

import datetime
import json
import os
import pathlib
import platform
import queue
import random
import re
import statistics
import subprocess
import tempfile
import threading
import time
import uuid

import boto3

from flex_handoff_dev import ROOT, TARGET
from flex_handoff_dev.aws_local import create_table, forward, start_moto
from flex_handoff_dev.events import dev_env, event, from_address, guest_event, signed_close_event
from flex_handoff_dev.runtime_api import RuntimeApi
from flex_handoff_dev.servers import Handler, Server, free_port, log
from flex_handoff_dev.twilio_model import Hooks, TwilioServer

RUNS = int(os.environ.get("BENCH_RUNS", "40"))
WARM = int(os.environ.get("BENCH_WARM", "1000"))
FUNCTIONS = ["generate-token", "create-channel", "flex-webhook", "chat-graphql"]


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
        lambda_env = {**runtime.lambda_env("bench"), "PATH": os.environ["PATH"], "RUST_LOG": "error"}
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


def instructions_to_first_next(command, env):
    """Instructions a target executes from process start until it asks for its first event:
    callgrind counts them, deterministically, and dumps its count just before the process's
    first `connect`, which is the Runtime API's `next` (no function connects anywhere during
    its init here: credentials come from the environment). The port is closed, so the process
    then exits; what it does after the dump is not counted."""
    with tempfile.TemporaryDirectory() as work:
        out = pathlib.Path(work) / "callgrind.out"
        lambda_env = {"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{free_port()}", "AWS_LAMBDA_FUNCTION_NAME": "bench",
                      "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                      "PATH": os.environ["PATH"], "RUST_LOG": "error"}
        subprocess.run(["valgrind", "--tool=callgrind", "--dump-before=connect", f"--callgrind-out-file={out}", *command],
                       env={**env, **lambda_env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        # Part 1 is everything before the first connect.
        totals = re.search(r"^summary: (\d+)", (out.parent / f"{out.name}.1").read_text(), re.MULTILINE)
        return int(totals.group(1))


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


def aws_proxy(moto_url, counter, round_trips=None):
    """Forwards AWS JSON calls to moto, counting them by X-Amz-Target; with `round_trips`, also
    records each call's time from its arrival to the answer (moto's work plus this hop)."""
    class Proxy(Handler):
        def do_POST(self):
            arrived = time.perf_counter_ns()
            counter.add(self.headers.get("x-amz-target", "?").split(".")[-1])
            status, payload, headers = forward(moto_url, self, self.body())
            self.reply(status, payload, headers)
            if round_trips is not None:
                round_trips.append((time.perf_counter_ns() - arrived) / 1e6)
    return Server(Proxy)


class CountedCalls(Hooks):
    """Counts each Twilio call by method and path, chat SIDs written {CH}."""

    def __init__(self, counter):
        self.counter = counter

    def before(self, handler, method, path, form):
        self.counter.add(f"{method} {'/'.join('{CH}' if p.startswith('CH') else p for p in path.split('/'))}")
        return False


TWILIO_DELAY_S = 0.100
HANDOFF_PRESSES = int(os.environ.get("BENCH_HANDOFF_PRESSES", "15"))


class NearbyTwilio(Hooks):
    """Answers each call after TWILIO_DELAY_S, as Twilio from a nearby region would, and records
    each call's (arrival, answer) times in `calls`."""

    def __init__(self, calls):
        self.calls, self.lock = calls, threading.Lock()

    def before(self, handler, method, path, form):
        handler.arrived = time.perf_counter()
        time.sleep(TWILIO_DELAY_S)
        return False

    def answered(self, handler, method, path):
        with self.lock:
            self.calls.append((handler.arrived, time.perf_counter()))


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
        twilio = TwilioServer(hooks=NearbyTwilio(calls)).start()
        hosts = {k: twilio.url() for k in
                 ["TWILIO_FLEX_API_URL", "TWILIO_CHAT_API_URL", "TWILIO_CONVERSATIONS_API_URL", "TWILIO_TASKROUTER_API_URL"]}
        runtime = RuntimeApi()
        lambda_env = {**runtime.lambda_env("bench"), "PATH": os.environ["PATH"], "RUST_LOG": "error", "FLEX_MODE": mode}
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
            twilio.server.close()
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


def main():
    build()
    env = dev_env()
    moto_url, moto = start_moto()
    try:
        cold, warm, trips, instructions = measure(env, moto_url)
        handoff = handoff_latency(env, moto_url)
    finally:
        moto.kill()
        moto.wait()
    arch, arch_note, sizes = artifacts()
    hot = criterion()
    report(cold, warm, trips, instructions, handoff, arch, arch_note, sizes, hot)


def measure(env, moto_url):
    table = "bench-channels"
    create_table(moto_url, table)
    aws = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    secrets = boto3.client("secretsmanager", endpoint_url=moto_url, region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
    credential_vars = ["TWILIO_ACCOUNT_SID", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET"]
    secret_arn = secrets.create_secret(Name="bench/twilio", SecretString=json.dumps({k: env[k] for k in credential_vars}))["ARN"]

    dynamo_counter, twilio_counter = Counter(), Counter()
    proxy = aws_proxy(moto_url, dynamo_counter)
    secret_round_trips = []
    secrets_proxy = aws_proxy(moto_url, Counter(), secret_round_trips)
    twilio = TwilioServer(hooks=CountedCalls(twilio_counter)).start()
    hosts = ["TWILIO_FLEX_API_URL", "TWILIO_CHAT_API_URL", "TWILIO_CONVERSATIONS_API_URL"]
    local = {**aws, "CHANNELS_TABLE": table, "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{proxy.port}",
             **{k: twilio.url() for k in hosts}}
    from_secret = {k: v for k, v in env.items() if k not in credential_vars}
    release = TARGET / "release"
    # Each new guest from an address of its own, as many customers are many clients: the bench
    # measures the new-guest path, not the per-address limit (tests/abuse_limits.rs does).
    token_event = lambda: from_address(event("token-new-guest.json"), f"guest-{uuid.uuid4()}")  # noqa: E731
    targets = {
        FLOOR: ([str(release / "examples" / "hello_floor")], {}, token_event),
        "generate-token": ([str(release / "generate-token")], {**env, **local}, token_event),
        SECRET: ([str(release / "generate-token")],
                 {**from_secret, **local, "TWILIO_SECRET_ARN": secret_arn,
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
        "generate-token": lambda i: token_event(),
        "create-channel": lambda i: reuse,
        "flex-webhook": lambda i: event("webhook-legacy-inactive.json"),
        "chat-graphql": lambda i: my_chats,
        NODE: lambda i: event("token-new-guest.json"),
    }
    warm = {}
    for name, make in warm_events.items():
        command, target_env, first = targets[name]
        warm[name] = Run(command, target_env, first(), make)

    log("instructions to the first next (callgrind)...")
    # Every target with create-channel's environment, so the counts differ by the binaries alone.
    same_env = targets["create-channel"][1]
    instructions = {name: instructions_to_first_next(targets[name][0], same_env) for name in [FLOOR, *FUNCTIONS]}

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

    count("generate-token: new guest", "generate-token", token_event())
    opened = count("create-channel: new chat", "create-channel", guest_event("channel-guest.json", identity))
    count("create-channel: reuse", "create-channel", guest_event("channel-guest.json", identity))
    # The same reuse once its chat's last confirmation is older than the liveness interval (here
    # any age: LIVENESS_CHECK_AFTER_SECONDS=0): one Twilio read, and the confirmation recorded.
    command, target_env, _ = targets["create-channel"]
    dynamo_counter.take()
    twilio_counter.take()
    stale = Run(command, {**target_env, "LIVENESS_CHECK_AFTER_SECONDS": "0"}, guest_event("channel-guest.json", identity))
    trips["create-channel: stale reuse"] = {"status": stale.status, "dynamodb": dynamo_counter.take(), "twilio": twilio_counter.take()}
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
    return cold, warm, trips, instructions


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
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.machine())
    mem = next(line.split(":", 1)[1].strip() for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    versions = {
        "rustc": subprocess.check_output(["rustc", "--version"]).decode().strip(),
        "node": subprocess.check_output(["node", "--version"]).decode().strip(),
        "python": platform.python_version(),
    }
    return f"{os.cpu_count()} cores, {cpu}, {mem} memory, Linux {platform.release()}", versions


def mib(kib):
    return kib / 1024


def report(cold, warm, trips, instructions, handoff, arch, arch_note, sizes, hot):
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
        "  Runtime API emulator (`flex_handoff_dev.runtime_api`) and timed from process start to its first",
        "  `GET /runtime/invocation/next`. Targets run interleaved, in a random order each round,",
        f"  {RUNS} rounds. The floor is a hello-world `lambda_http` binary with the same profile",
        "  (`shared/examples/hello_floor.rs`); the Node.js reference loads Twilio's `twilio` helper library and",
        "  mints a chat token per event (`tools/bench/node-reference.js`), as the public Node backends do.",
        "- **Instructions to the first `next`**: each binary under `valgrind --tool=callgrind --dump-before=connect`,",
        "  counted from process start to its first `connect`, the Runtime API's `next`, all with create-channel's",
        "  environment. Deterministic (the same count run after run, whatever else the machine does), unlike the",
        "  timings: the figure to compare changes by.",
        "- **First invocation**: from the emulator handing out the first event to the function's response. Local",
        "  servers stand in for AWS and Twilio: moto for DynamoDB and Secrets Manager (each behind a counting proxy;",
        "  the Secrets Manager proxy also times the one GetSecretValue call, from its arrival to the answer, which the",
        "  'round trip subtracted' row takes off that target's init),",
        "  the project's Twilio model (`flex_handoff_dev.twilio_model`) for Twilio. Their latency is a loopback Python server's, not AWS's or Twilio's.",
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
    lines += ["", "## Instructions to the first `next` (callgrind)", "", "| target | instructions | above the floor | vs floor |",
              "|---|---|---|---|"]
    for name, count in instructions.items():
        lines.append(f"| {name} | {count:,} | {count - instructions[FLOOR]:+,} | {count / instructions[FLOOR]:.2f}x |")
    lines += ["", "## First invocation after init (ms)", "", "| target | median | p10 | p90 | min | max |", "|---|---|---|---|---|---|"]
    for name, s in first.items():
        lines.append(f"| {name} | {s['median']:.2f} | {s['p10']:.2f} | {s['p90']:.2f} | {s['min']:.2f} | {s['max']:.2f} |")
    lines += ["", "Cold start the customer waits for (init + first invocation, medians):", ""]
    for name in init:
        lines.append(f"- {name}: {init[name]['median'] + first[name]['median']:.1f} ms")
    lines += ["", "## Memory (MiB)", "", f"| target | RSS after init | peak after init | RSS after {WARM} | peak after {WARM} | growth |",
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
    stale = trips["create-channel: stale reuse"]
    mine = trips["chat-graphql: my chats"]
    reads = lambda t: t["dynamodb"].get("GetItem", 0)  # noqa: E731
    def verdict(ok):
        return "met" if ok else "**missed**"
    most = max(instructions[f] for f in FUNCTIONS)
    lines += [
        "", "## Targets", "", "| target | measured | verdict |", "|---|---|---|",
        f"| cold init of every function <= 1.3x the floor | worst {worst:.2f} ms = {worst / floor:.2f}x of {floor:.2f} ms | {verdict(worst <= 1.3 * floor)} |",
        f"| instructions to the first `next` <= the floor + 700k, every function | worst {most:,} = floor {most - instructions[FLOOR]:+,} | "
        f"{verdict(most <= instructions[FLOOR] + 700_000)} |",
        f"| cold init >= 20x faster than the Node.js reference | Node {node:.1f} ms, at least {fastest_ratio:.1f}x slower | {verdict(fastest_ratio >= 20)} |",
        f"| peak RSS <= 16 MiB per function, no growth over {WARM} invocations | peak {peak:.1f} MiB, RSS growth at most {growth:+.2f} MiB | {verdict(peak <= 16 and growth < 1)} |",
        f"| {arch} bootstrap <= 8 MiB per function | largest {largest:.2f} MiB | {verdict(largest <= 8)} |",
        f"| token mint and verify >= 300,000/s | {1e9 / hot['token/mint']:,.0f} and {1e9 / hot['token/verify']:,.0f} per second | {verdict(min(1e9 / hot['token/mint'], 1e9 / hot['token/verify']) >= 300000)} |",
        f"| signature check >= 500,000/s | {1e9 / hot['webhook/signature_check']:,.0f} per second | {verdict(1e9 / hot['webhook/signature_check'] >= 500000)} |",
        f"| reuse: 1 DynamoDB read, no Twilio call | {sum(reuse['dynamodb'].values())} DynamoDB call(s), {sum(reuse['twilio'].values())} Twilio | {verdict(reuse['dynamodb'] == {'GetItem': 1} and not reuse['twilio'])} |",
        f"| stale reuse: the fresh reuse plus exactly one Twilio GET | {', '.join(f'{k} {v}' for k, v in sorted(stale['dynamodb'].items()))}; "
        f"{', '.join(f'{k} {v}' for k, v in sorted(stale['twilio'].items()))} | "
        f"{verdict(stale['status'] == 200 and stale['dynamodb'] == {'GetItem': 1, 'UpdateItem': 1} and list(stale['twilio'].values()) == [1] and next(iter(stale['twilio'])).startswith('GET '))} |",
        f"| interactions, no transcript: <= 3 sequential Twilio round trips | {handoff[('interactions', 'empty context')]['trips']} | "
        f"{verdict(handoff[('interactions', 'empty context')]['trips'] <= 3)} |",
        "| a 20-message transcript adds <= 1 sequential round trip, every mode | "
        + ", ".join(f"{m} +{handoff[(m, '20-message transcript')]['trips'] - handoff[(m, 'empty context')]['trips']}" for m in ("conversations", "interactions", "chat"))
        + f" | {verdict(all(handoff[(m, '20-message transcript')]['trips'] - handoff[(m, 'empty context')]['trips'] <= 1 for m in ('conversations', 'interactions', 'chat')))} |",
        # Reads: the slot, and the queue's schedule (cached 5 s per warm instance). Writes: the
        # claim, the activation, and the new-chat limit's bucket (issue 22).
        f"| new chat: <= 2 reads (slot, schedule), 3 writes (claim, activation, rate limit), 2 Twilio calls | {reads(new)} read(s), {sum(new['dynamodb'].values()) - reads(new)} write(s), {sum(new['twilio'].values())} Twilio | "
        f"{verdict(reads(new) <= 2 and sum(new['dynamodb'].values()) - reads(new) <= 3 and sum(new['twilio'].values()) <= 2)} |",
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
