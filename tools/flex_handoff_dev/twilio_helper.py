"""Twilio's own Python library, driven by the Rust cross-check tests.

Usage:
  python3 -m flex_handoff_dev.twilio_helper mint ACCOUNT_SID API_KEY_SID API_KEY_SECRET SERVICE_SID IDENTITY TTL
      prints an Access Token with a ChatGrant, as twilio.jwt.access_token mints it
  python3 -m flex_handoff_dev.twilio_helper decode API_KEY_SECRET JWT
      prints {"headers": ..., "payload": ...} as twilio.jwt.Jwt.from_jwt decodes and verifies it,
      or exits 1 with the library's error on stderr
  python3 -m flex_handoff_dev.twilio_helper sign AUTH_TOKEN URL PARAMS_JSON
      prints X-Twilio-Signature for a form POST; PARAMS_JSON is a list of [key, value] pairs
      (a key may repeat), as RequestValidator.compute_signature computes it
  python3 -m flex_handoff_dev.twilio_helper sign-json AUTH_TOKEN URL BODY
      prints {"url": URL with bodySHA256, "signature": ...} for a JSON POST
  python3 -m flex_handoff_dev.twilio_helper validate AUTH_TOKEN URL PARAMS_JSON SIGNATURE
      prints true or false: RequestValidator.validate's verdict
"""

import json
import sys

from twilio.jwt import Jwt, JwtDecodeError
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant
from twilio.request_validator import RequestValidator


class MultiDict(dict):
    """Form parameters with repeated keys, in the shape RequestValidator reads (getall)."""

    def __init__(self, pairs):
        super().__init__()
        for key, value in pairs:
            self.setdefault(key, []).append(value)

    def getall(self, key):
        return self[key]


def mint(account_sid, api_key_sid, secret, service_sid, identity, ttl):
    token = AccessToken(account_sid, api_key_sid, secret, identity=identity, ttl=int(ttl))
    token.add_grant(ChatGrant(service_sid=service_sid))
    print(token.to_jwt())


def decode(secret, jwt):
    try:
        decoded = Jwt.from_jwt(jwt, secret)
    except JwtDecodeError as error:
        print(f"rejected: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"headers": decoded.headers, "payload": decoded.payload}))


def sign(auth_token, url, params_json):
    params = MultiDict(json.loads(params_json))
    print(RequestValidator(auth_token).compute_signature(url, params))


def sign_json(auth_token, url, body):
    validator = RequestValidator(auth_token)
    separator = "&" if "?" in url else "?"
    signed_url = f"{url}{separator}bodySHA256={validator.compute_hash(body)}"
    print(json.dumps({"url": signed_url, "signature": validator.compute_signature(signed_url, {})}))


def validate(auth_token, url, params_json, signature):
    params = MultiDict(json.loads(params_json))
    print("true" if RequestValidator(auth_token).validate(url, params, signature) else "false")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    commands = {"mint": mint, "decode": decode, "sign": sign, "sign-json": sign_json, "validate": validate}
    commands[command](*args)
