"""Twilio's own Python library, driven by the Rust cross-check tests.

Usage:
  twilio_helper.py mint ACCOUNT_SID API_KEY_SID API_KEY_SECRET SERVICE_SID IDENTITY TTL
      prints an Access Token with a ChatGrant, as twilio.jwt.access_token mints it
  twilio_helper.py decode API_KEY_SECRET JWT
      prints {"headers": ..., "payload": ...} as twilio.jwt.Jwt.from_jwt decodes and verifies it,
      or exits 1 with the library's error on stderr
"""

import json
import sys

from twilio.jwt import Jwt, JwtDecodeError
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant


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


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"mint": mint, "decode": decode}[command](*args)
