"""Checks openapi.yaml, and requests and responses against it.

Usage: python3 -m flex_handoff_dev.check_openapi openapi.yaml EXCHANGES_JSON

EXCHANGES_JSON is a list of {"name", "method", "path", "contentType", "request", "status", "response"}:
`request` is the body (JSON text, or form text), `response` the JSON text answered. A response
must match the schema documented for its path and status. A request must match its schema
unless it was answered 400: the spec predicts which requests are refused.
"""

import json
import sys
import urllib.parse

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_spec
from referencing import Registry
from referencing.jsonschema import DRAFT202012


def main(spec_path, exchanges_path):
    spec = yaml.safe_load(open(spec_path))
    validate_spec(spec)
    registry = Registry().with_resource("urn:api", DRAFT202012.create_resource(spec))

    def resolve(node):
        while "$ref" in node:
            node = spec_at(spec, node["$ref"])
        return node

    def check(schema_ref, instance):
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": f"urn:api{schema_ref}"}
        validator = Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
        return [e.message for e in validator.iter_errors(instance)]

    exchanges = json.load(open(exchanges_path))
    problems = []
    for x in exchanges:
        operation = spec["paths"][x["path"]][x.get("method", "POST").lower()]
        responses = operation["responses"]
        documented = responses.get(str(x["status"]))
        if documented is None:
            problems.append(f"{x['name']}: status {x['status']} is not documented for {x['path']}")
            continue
        content = resolve(documented)["content"]["application/json"]["schema"]
        errors = check(schema_pointer(content), json.loads(x["response"]))
        problems += [f"{x['name']}: response: {e}" for e in errors]

        body = x["request"]
        if body.strip():
            media = "application/json" if x["contentType"].startswith("application/json") else "application/x-www-form-urlencoded"
            schema = operation["requestBody"]["content"][media]["schema"]
            instance = json.loads(body) if media == "application/json" else dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
            errors = check(schema_pointer(schema), instance)
            if errors and x["status"] != 400:
                problems += [f"{x['name']}: request: {e}" for e in errors]
    if problems:
        sys.exit("\n".join(problems))
    print(f"openapi.yaml is valid; {len(exchanges)} exchanges match it")


def spec_at(spec, ref):
    node = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def schema_pointer(schema):
    if "$ref" not in schema:
        raise SystemExit("schemas used by exchanges must be $refs into components")
    return schema["$ref"]


if __name__ == "__main__":
    main(*sys.argv[1:])
