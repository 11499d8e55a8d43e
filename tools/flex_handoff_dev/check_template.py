"""Checks template.yaml beyond what cfn-lint sees in a SAM template: transforms it as
CloudFormation will (SAM translator), lints the result (this is where circular dependencies
show), and asserts each function's IAM policy is exactly the actions it uses.

Usage: python3 -m flex_handoff_dev.check_template template.yaml
"""

import json
import os
import subprocess
import sys
import tempfile

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

EXPECTED_ACTIONS = {
    "GenerateTokenFunction": {"secretsmanager:GetSecretValue", "dynamodb:UpdateItem"},
    "CreateChannelFunction": {
        "secretsmanager:GetSecretValue",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
    "FlexWebhookFunction": {
        "secretsmanager:GetSecretValue",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
    "ChatGraphqlFunction": {
        "secretsmanager:GetSecretValue",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
    },
    "ReconcileChatsFunction": {
        "secretsmanager:GetSecretValue",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
    },
}
# Each index is read by one function alone, and only through Query: the history by chat-graphql,
# the live chats by the reconciler.
# Each secret is read by the functions that use it alone (README, "Security"): the auth token by
# flex-webhook, the bot context key by create-channel, the API key by every other.
SECRET_READERS = {
    "GenerateTokenFunction": {"TwilioSecretArn"},
    "CreateChannelFunction": {"TwilioSecretArn", "BotContextSecretArn"},
    "FlexWebhookFunction": {"TwilioAuthTokenSecretArn"},
    "ChatGraphqlFunction": {"TwilioSecretArn"},
    "ReconcileChatsFunction": {"TwilioSecretArn"},
}
SECRET_VARS = {
    "TwilioSecretArn": "TWILIO_SECRET_ARN",
    "TwilioAuthTokenSecretArn": "TWILIO_AUTH_TOKEN_SECRET_ARN",
    "BotContextSecretArn": "BOT_CONTEXT_SECRET_ARN",
}
INDEX_READERS = {
    "ChatGraphqlFunction": "/index/chats-by-identity",
    "ReconcileChatsFunction": "/index/live-chats-by-confirmation",
}


class NoManagedPolicies:
    def load(self):
        return {}


def main(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    template, problems = decode(path)
    assert not problems, problems
    template = json.loads(json.dumps(template, default=str))
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            # `sam build` replaces the local CodeUri with the built artifact's S3 location.
            resource["Properties"]["CodeUri"] = "s3://artifact-bucket/code.zip"
    for issuer in ("", "https://login.example.com/"):
        params = {"AllowedOrigins": "https://app.example.com", "JwtIssuer": issuer}
        transformed = transform(json.loads(json.dumps(template)), params, NoManagedPolicies())
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
            json.dump(transformed, out)
        lint = subprocess.run(["cfn-lint", out.name], capture_output=True, text=True)
        os.unlink(out.name)
        if lint.returncode != 0:
            sys.exit(f"cfn-lint on the transformed template (JwtIssuer={issuer!r}):\n{lint.stdout}")

    resources = transformed["Resources"]
    functions = [n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    assert set(functions) == set(EXPECTED_ACTIONS), f"functions without an expected policy: {functions}"
    for function, expected in EXPECTED_ACTIONS.items():
        role = resources[f"{function}Role"]["Properties"]
        managed = [arn.rsplit("/", 1)[-1] for arn in role.get("ManagedPolicyArns", [])]
        assert managed == ["AWSLambdaBasicExecutionRole"], f"{function}: managed policies {managed}"
        actions = set()
        for policy in role.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                assert statement["Resource"] != "*", f"{function}: a statement on every resource"
                listed = statement["Action"]
                listed = [listed] if isinstance(listed, str) else listed
                actions.update(listed)
                resource = json.dumps(statement["Resource"])
                on_index = "/index/" in resource
                assert on_index == ("dynamodb:Query" in listed), f"{function}: Query and an index go together: {statement}"
                assert not on_index or (INDEX_READERS.get(function, "\0") in resource and listed == ["dynamodb:Query"]), f"{function}: {statement}"
        assert actions == expected, f"{function}: actions {sorted(actions)} != {sorted(expected)}"
    check_secret_readers(template)
    check_queue_readers(template)
    check_token_writes_buckets_only(resources)
    check_schedule_and_routes(template)
    print(f"template checks passed: transformed template lints clean; IAM exact for {len(functions)} functions")


def check_token_writes_buckets_only(resources):
    """generate-token writes its rate-limit buckets and nothing else of the table."""
    role = resources["GenerateTokenFunctionRole"]["Properties"]
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "dynamodb:UpdateItem" in statement["Action"]:
                keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                assert keys == ["limit#new-guest#*"], statement


def check_secret_readers(template):
    """Each function may read exactly its own secrets, and is told the ARNs of those alone."""
    for function, expected in SECRET_READERS.items():
        properties = template["Resources"][function]["Properties"]
        readable = set()
        for policy in properties["Policies"]:
            for statement in policy["Statement"]:
                if "secretsmanager:GetSecretValue" in json.dumps(statement["Action"]):
                    readable.update(part for part in SECRET_VARS if f'"{part}"' in json.dumps(statement["Resource"]))
        assert readable == expected, f"{function} may read {sorted(readable)}, not {sorted(expected)}"
        told = {var for var in properties["Environment"]["Variables"] if var.endswith("SECRET_ARN")}
        assert told == {SECRET_VARS[part] for part in expected}, f"{function} is told {sorted(told)}"
        plain = {"TWILIO_AUTH_TOKEN", "TWILIO_API_KEY_SECRET", "BOT_CONTEXT_HMAC_KEY"}
        assert not plain & set(properties["Environment"]["Variables"]), f"{function}: a secret in plain text"


def check_queue_readers(template):
    """flex-webhook records acceptances under the queue create-channel routes to and reads."""
    variables = {function: template["Resources"][function]["Properties"]["Environment"]["Variables"]
                 for function in ("CreateChannelFunction", "FlexWebhookFunction")}
    queues = {function: json.dumps(found.get("TWILIO_TASK_QUEUE_SID")) for function, found in variables.items()}
    assert "TwilioTaskQueueSid" in queues["FlexWebhookFunction"], queues
    assert queues["FlexWebhookFunction"] == queues["CreateChannelFunction"], queues


def check_schedule_and_routes(template):
    """The reconciler runs on a schedule, and Twilio's webhook route has a throttle of its own."""
    resources = template["Resources"]
    events = resources["ReconcileChatsFunction"]["Properties"]["Events"]
    assert [event["Type"] for event in events.values()] == ["Schedule"], events
    routes = resources["HttpApi"]["Properties"]["RouteSettings"]
    assert set(routes) == {"POST /twilio/webhook"}, routes
    assert set(routes["POST /twilio/webhook"]) == {"ThrottlingRateLimit", "ThrottlingBurstLimit"}
    # GET /availability shares create-channel, which may be invoked for both of its routes.
    paths = resources["HttpApi"]["Properties"]["DefinitionBody"]["paths"]
    assert set(paths["/availability"]) == {"get"}, paths["/availability"]
    assert "create-channel" in json.dumps(paths["/availability"]["get"]["x-amazon-apigateway-integration"]["uri"])
    allowed = {json.dumps(resources[name]["Properties"]["SourceArn"]) for name in resources
               if resources[name]["Type"] == "AWS::Lambda::Permission"
               and resources[name]["Properties"]["FunctionName"] == {"Ref": "CreateChannelFunction"}}
    assert any("/GET/availability" in arn for arn in allowed) and any("/POST/channel" in arn for arn in allowed), allowed
    for alarm in ("RepairsAlarm", "ServerErrorsAlarm"):
        assert resources[alarm]["Type"] == "AWS::CloudWatch::Alarm", alarm


if __name__ == "__main__":
    main(sys.argv[1])
