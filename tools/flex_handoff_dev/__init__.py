"""flex-handoff's development and test tooling: the second product of this repository.

Installed into the project's .venv (editable) by `make tools`; each command below runs as
`python3 -m flex_handoff_dev.<module>`. What each piece is for (local/README.md says more):

The local stack (`make dev`) and the stand-ins the tests run against
  servers        the HTTP plumbing every local server here uses: handler base, background and
                 foreground servers, free ports
  gateway        API Gateway's part: the API's routes to the functions, and the demo pages
  twilio_model   the one Twilio model: chats, messages, webhooks, Interactions and tasks in all
                 three Flex modes, and TwilioServer, its HTTP face with hooks for Prism checks,
                 faults, counting and delays
  local_twilio   `make dev`'s Twilio: TwilioServer with every request checked by Prism first
  moto_atomic    the DynamoDB stand-in: moto's server with every request under one lock
  create_table   the channels table on a local DynamoDB, from template.yaml's schema
  records        one identity's items as JSON (smoke script, browser test)
  runtime_api    the one Lambda Runtime API emulator: bench, load suite and the Rust tests'
                 function runs (`run` reads a JSON job on stdin)
  events         events/ files, guest tokens and signed webhooks for the harnesses

Checks run by `make test`
  check_template  the transformed SAM template and each function's IAM
  check_openapi   openapi.yaml, and the handlers' exchanges against it
  twilio_helper   Twilio's own Python library, for the Rust cross-checks

Measurements
  bench          `make bench`: cold start, instructions, memory, size, round trips
  load, faults   `make load` (and `make test` at quick sizes): the load and fault suite
"""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
