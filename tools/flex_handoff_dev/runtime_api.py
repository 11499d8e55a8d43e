"""The one Lambda Runtime API emulator, as much of it as a function uses: it hands out queued
events and collects the answers. `make bench` times cold starts against it, the load suite runs
release binaries as Lambda instances under it, and the Rust tests run their binaries through
`run` (shared/testkit/src/runtime.rs), so every harness sees a function the same way.

  python3 -m flex_handoff_dev.runtime_api run < JOB_JSON
      JOB_JSON: {"command": [program, args...], "env": {...}, "events": [event JSON text, ...]}.
      Runs the command with exactly `env` plus the runtime's variables, hands it the events in
      order (request ids invocation-0, -1, ...), and stops it once it answered all of them or
      ended by itself (60 s at most). Prints {"responses": [...], "output": "...",
      "exit_code": null or the code it ended with}.
"""

import json
import os
import pathlib
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from flex_handoff_dev import TARGET
from flex_handoff_dev.servers import Handler, Server

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:local"


class RuntimeApi:
    """Hands out `events` (queue of (request id, payload)) and collects `responses` (queue of
    (request id, perf_counter_ns when answered, payload)). `first_next`: when the function first
    asked for an event, the end of its init; `served`: when each event was handed out."""

    def __init__(self):
        self.events = queue.Queue()
        self.responses = queue.Queue()
        self.first_next = None
        self.served = {}
        self.closed = False
        outer = self

        class RuntimeHandler(Handler):
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
                    "lambda-runtime-deadline-ms": str(int(time.time() * 1000) + 300_000),
                    "lambda-runtime-invoked-function-arn": FUNCTION_ARN,
                })

            def do_POST(self):
                done = time.perf_counter_ns()
                payload = self.body()
                request_id = self.path.split("/")[4]
                self.reply(202)
                outer.responses.put((request_id, done, payload))

        self.server = Server(RuntimeHandler)

    def close(self):
        self.closed = True
        self.server.close()

    def address(self):
        return f"127.0.0.1:{self.server.port}"

    def lambda_env(self, function):
        """The variables Lambda gives a function process."""
        return {"AWS_LAMBDA_RUNTIME_API": self.address(), "AWS_LAMBDA_FUNCTION_NAME": function,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST"}


class Instance:
    """One Lambda instance: a release binary under its own Runtime API, one event at a time."""

    def __init__(self, function, env, capture_output=False):
        self.runtime = RuntimeApi()
        lambda_env = {**self.runtime.lambda_env(function), "PATH": os.environ["PATH"], "RUST_LOG": "warn"}
        self.process = subprocess.Popen([str(TARGET / "release" / function)], env={**env, **lambda_env},
                                        stdout=subprocess.PIPE if capture_output else subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self.lock = threading.Lock()

    def invoke(self, payload):
        """(status, body, latency in ms) of one API Gateway event."""
        response, latency_ms = self.invoke_raw(payload)
        if "statusCode" not in response:
            raise AssertionError(f"the function failed: {response}")
        return response["statusCode"], json.loads(response["body"]), latency_ms

    def invoke_raw(self, payload):
        """(answer's JSON, latency in ms) of one event of any kind (a schedule's, say)."""
        with self.lock:
            request_id = uuid.uuid4().hex
            self.runtime.events.put((request_id, payload))
            got, done, answer = self.runtime.responses.get(timeout=60)
            assert got == request_id, (got, request_id)
            return json.loads(answer), (done - self.runtime.served[request_id]) / 1e6

    def cpu_ms(self):
        fields = pathlib.Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.process.kill()
        self.process.wait()
        self.runtime.close()


def run(command, env, events, give_up_s=60):
    """Runs `command` as Lambda runs a function, hands it `events`; see the module's doc."""
    runtime = RuntimeApi()
    for index, event in enumerate(events):
        runtime.events.put((f"invocation-{index}", event))
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, env={**env, **runtime.lambda_env("test")}, stdout=output, stderr=output)
        answered, exit_code = {}, None
        give_up = time.monotonic() + give_up_s
        try:
            while len(answered) < len(events):
                try:
                    request_id, _, payload = runtime.responses.get(timeout=0.02)
                    answered[request_id] = json.loads(payload)
                    continue
                except queue.Empty:
                    pass
                if (code := process.poll()) is not None:
                    exit_code = code
                    break
                if time.monotonic() > give_up:
                    raise SystemExit(f"the function did not answer within {give_up_s} s")
        finally:
            process.kill()
            process.wait()
            runtime.close()
        output.seek(0)
        text = output.read().decode(errors="replace")
    responses = [answered[f"invocation-{i}"] for i in range(len(events)) if f"invocation-{i}" in answered]
    return {"responses": responses, "output": text, "exit_code": exit_code}


def main():
    if sys.argv[1:] != ["run"]:
        raise SystemExit(__doc__)
    job = json.load(sys.stdin)
    print(json.dumps(run(job["command"], job["env"], job["events"])))


if __name__ == "__main__":
    main()
