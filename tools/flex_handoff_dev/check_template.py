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
    "GenerateTokenFunction": {"secretsmanager:GetSecretValue"},
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
}
# The identity index is read by chat-graphql alone, and only through Query.
INDEX_READER = "ChatGraphqlFunction"
INDEX_SUFFIX = "/index/chats-by-identity"


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
                on_index = INDEX_SUFFIX in json.dumps(statement["Resource"])
                assert on_index == ("dynamodb:Query" in listed), f"{function}: Query and the index go together: {statement}"
                assert not on_index or (function == INDEX_READER and listed == ["dynamodb:Query"]), f"{function}: {statement}"
        assert actions == expected, f"{function}: actions {sorted(actions)} != {sorted(expected)}"
    print(f"template checks passed: transformed template lints clean; IAM exact for {len(functions)} functions")


if __name__ == "__main__":
    main(sys.argv[1])
