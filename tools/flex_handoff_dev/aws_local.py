"""The local DynamoDB (and Secrets Manager) the harnesses run against: moto under one lock
(moto_atomic) in its own process, and proxies in front of it."""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from flex_handoff_dev.servers import free_port


def start_moto():
    """moto under one lock on a free port: (its URL, its process). FLEX_HANDOFF_PLAIN_MOTO=1
    starts plain moto instead, the control for what the lock prevents."""
    port = free_port()
    if os.environ.get("FLEX_HANDOFF_PLAIN_MOTO"):
        command = ["moto_server"]
    else:
        command = [sys.executable, "-m", "flex_handoff_dev.moto_atomic"]
    process = subprocess.Popen([*command, "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for_moto(url)
    return url, process


def wait_for_moto(moto_url):
    for _ in range(200):
        try:
            urllib.request.urlopen(moto_url + "/moto-api/", timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"moto did not start at {moto_url}")


def create_table(moto_url, table):
    subprocess.run([sys.executable, "-m", "flex_handoff_dev.create_table", moto_url, table], check=True)


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
