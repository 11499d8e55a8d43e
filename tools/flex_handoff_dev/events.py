"""API Gateway events for the harnesses: events/ files, fresh guest tokens signed with
local/dev.env's throwaway key, and the chat-end webhook signed as Twilio signs it."""

import json
import time
import urllib.parse
import zlib

import jwt as pyjwt
from twilio.request_validator import RequestValidator

from flex_handoff_dev import ROOT


def dev_env():
    """local/dev.env as a dict."""
    pairs = [line.split("=", 1) for line in (ROOT / "local/dev.env").read_text().splitlines()
             if line and not line.startswith("#")]
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
    data = json.loads(from_address(event(name), identity))
    data["headers"]["authorization"] = f"Bearer {token}"
    return json.dumps(data)


def from_address(text, customer):
    """The event `text` as sent from `customer`'s address ([`source_ip`])."""
    data = json.loads(text)
    data["requestContext"]["http"]["sourceIp"] = source_ip(customer)
    return json.dumps(data)


def source_ip(identity):
    """The address a simulated customer calls from: one of 65,536 in 198.18.0.0/16 (RFC 2544's
    benchmarking range), fixed per identity, so the per-client limits see many customers as
    many clients, as they are, rather than the whole load as one."""
    digest = zlib.crc32(identity.encode())
    return f"198.18.{(digest >> 8) & 0xFF}.{digest & 0xFF}"


def signed_close_event(env, channel_sid):
    """The Conversations chat-end webhook for `channel_sid`, signed as Twilio would sign it."""
    params = {"EventType": "onConversationStateUpdated", "ConversationSid": channel_sid, "StateFrom": "active", "StateTo": "closed"}
    signature = RequestValidator(env["TWILIO_AUTH_TOKEN"]).compute_signature(env["TWILIO_WEBHOOK_URL"], params)
    data = json.loads(event("webhook-conversations-closed.json"))
    data["headers"]["x-twilio-signature"] = signature
    data["body"] = urllib.parse.urlencode(params)
    data["isBase64Encoded"] = False
    return json.dumps(data)
