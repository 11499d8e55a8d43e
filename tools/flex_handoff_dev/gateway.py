"""What API Gateway puts in front of the functions, for `make dev` (Twilio's part is local_twilio).

  python3 -m flex_handoff_dev.gateway PORT FUNCTIONS_URL [CONFIG_JSON]
      API Gateway's part: POST /token, /channel, /graphql and /twilio/webhook and GET /availability
      go to the functions under
      `cargo lambda watch` (FUNCTIONS_URL, e.g. http://127.0.0.1:9000/lambda-url), and the demo
      page is served from the same origin (no CORS needed locally). With the local Twilio
      (CONFIG_JSON's twilioUrl), /local-twilio/... reaches it from the same origin: the customer
      page's local transport and the agent page (/agent) use it.
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from flex_handoff_dev import ROOT
from flex_handoff_dev.servers import Handler, serve

DEMO = ROOT / "local" / "demo"
STATIC = {
    "/": (DEMO / "index.html", "text/html; charset=utf-8"),
    "/index.html": (DEMO / "index.html", "text/html; charset=utf-8"),
    "/app.js": (DEMO / "app.js", "text/javascript; charset=utf-8"),
    "/style.css": (DEMO / "style.css", "text/css; charset=utf-8"),
    "/transport.js": (DEMO / "transport.js", "text/javascript; charset=utf-8"),
    "/agent": (DEMO / "agent.html", "text/html; charset=utf-8"),
    "/agent.js": (DEMO / "agent.js", "text/javascript; charset=utf-8"),
    "/vendor/twilio-conversations.min.js": (
        ROOT / "tools/npm/node_modules/@twilio/conversations/builds/twilio-conversations.min.js",
        "text/javascript; charset=utf-8",
    ),
}
FORWARDED_HEADERS = ("authorization", "content-type", "x-twilio-signature", "accept")


def forward(handler, url, body):
    """Sends the handler's request to `url` and relays the answer."""
    headers = {k: v for k, v in handler.headers.items() if k.lower() in FORWARDED_HEADERS}
    request = urllib.request.Request(url, data=body, headers=headers, method=handler.command)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, reply_headers, reply = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, reply_headers, reply = error.code, error.headers, error.read()
    except OSError as error:
        status, reply_headers = 502, {"content-type": "application/json"}
        reply = json.dumps({"error": {"code": "local_upstream_down", "message": str(error)}}).encode()
    handler.send_response(status)
    for name in ("content-type", "cache-control", "www-authenticate", "allow", "retry-after"):
        if reply_headers.get(name):
            handler.send_header(name, reply_headers.get(name))
    handler.send_header("content-length", str(len(reply)))
    handler.end_headers()
    handler.wfile.write(reply)


def gateway(port, functions_url):
    routes = {
        "/token": f"{functions_url}/generate-token/",
        "/channel": f"{functions_url}/create-channel/",
        "/twilio/webhook": f"{functions_url}/flex-webhook/",
        "/graphql": f"{functions_url}/chat-graphql/",
    }
    # create-channel serves GET /availability too: it tells its two routes apart by the path.
    get_routes = {"/availability": f"{functions_url}/create-channel/availability"}

    local_twilio = CONFIG.pop("twilioUrl", None) or None

    class Gateway(Handler):
        log_prefix = "gateway"

        def to_local_twilio(self):
            if not (local_twilio and self.path.startswith("/local-twilio/")):
                return False
            body = self.body() if self.command == "POST" else None
            forward(self, local_twilio + self.path[len("/local-twilio"):], body)
            return True

        def do_GET(self):
            if self.to_local_twilio():
                return
            path = urllib.parse.urlsplit(self.path).path
            if path in get_routes:
                return forward(self, get_routes[path], None)
            if path == "/config.json":
                return self.page(200, "application/json", json.dumps(CONFIG).encode())
            if path not in STATIC:
                return self.page(404, "text/plain", b"not found")
            file, content_type = STATIC[path]
            self.page(200, content_type, file.read_bytes())

        def do_POST(self):
            if self.to_local_twilio():
                return
            split = urllib.parse.urlsplit(self.path)
            target = routes.get(split.path)
            if target is None:
                return self.page(404, "application/json", b'{"error":{"code":"not_found","message":"no such route"}}')
            forward(self, target + (f"?{split.query}" if split.query else ""), self.body())

        def page(self, status, content_type, payload):
            self.reply(status, payload, {"content-type": content_type, "cache-control": "no-store"})

    serve(Gateway, port)


CONFIG = {}

if __name__ == "__main__":
    port, *urls = sys.argv[1:]
    CONFIG.update(json.loads(urls[1]) if len(urls) > 1 else {})
    gateway(int(port), urls[0].rstrip("/"))
