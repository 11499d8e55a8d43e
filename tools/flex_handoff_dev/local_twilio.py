"""`make dev`'s Twilio: the one Twilio model (twilio_model) with every request checked by Prism
first, serving Twilio's official OpenAPI spec for its path. A request Prism refuses is refused
with Prism's reason and changes nothing; an accepted one is performed on the model, and its
answer takes the spec's shape (Prism's example) with the model's values in it.

  python3 -m flex_handoff_dev.local_twilio PORT AUTH_TOKEN PRISM_FLEX_V1 PRISM_FLEX_V2 PRISM_CHAT_V2 PRISM_CONVERSATIONS_V1 PRISM_TASKROUTER_V1
"""

import json
import sys
import urllib.error
import urllib.request

from flex_handoff_dev.twilio_model import TwilioServer, prism_form


def prism_check(prisms):
    """The `check` of TwilioServer: each request replayed to the Prism of its spec."""
    flex_v1, flex_v2, chat_v2, conversations_v1, taskrouter_v1 = prisms

    def prism_for(path):
        if path.startswith("/v2/WebChats"):
            return flex_v2
        if path.startswith(("/v1/Channels", "/v1/FlexFlows", "/v1/Interactions")):
            return flex_v1
        if path.startswith("/v1/Workspaces"):
            return taskrouter_v1
        if path.startswith("/v2/Services"):
            return chat_v2
        return conversations_v1

    def check(method, path, query, pairs, authorization):
        url = prism_for(path) + path + (f"?{query}" if query else "")
        request = urllib.request.Request(url, data=prism_form(pairs) if method == "POST" else None, method=method,
                                         headers={"content-type": "application/x-www-form-urlencoded",
                                                  "authorization": authorization})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return None, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            if error.code in (400, 401, 404, 405, 422):
                detail = error.read().decode(errors="replace")
                return (error.code, {"code": 20001, "status": error.code,
                                     "message": f"refused by Twilio's OpenAPI spec (Prism): {detail[:600]}"}), {}
            return None, {}

    return check


def main():
    port, auth_token, *prisms = sys.argv[1:]
    server = TwilioServer(port=int(port), check=prism_check([p.rstrip("/") for p in prisms]),
                          auth_token=auth_token, log_prefix="twilio")
    server.serve_forever()


if __name__ == "__main__":
    main()
