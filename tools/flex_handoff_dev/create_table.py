"""Creates the channels table on a DynamoDB-compatible endpoint from template.yaml's
ChannelsTable, so tests and the local stack use the schema that is deployed (one copy).

Usage: python3 -m flex_handoff_dev.create_table ENDPOINT_URL TABLE_NAME
"""

import sys

import boto3
import yaml

from flex_handoff_dev import ROOT


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !If, ...) as plain values."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


CloudFormationLoader.add_multi_constructor("!", _any_tag)


def table_properties():
    template = ROOT / "template.yaml"
    resources = yaml.load(template.read_text(), Loader=CloudFormationLoader)["Resources"]
    return resources["ChannelsTable"]["Properties"]


def local_dynamodb(endpoint):
    """A DynamoDB client for a local server (any credentials and region do)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create(endpoint, name):
    props = table_properties()
    client = local_dynamodb(endpoint)
    args = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props["BillingMode"],
    }
    if "GlobalSecondaryIndexes" in props:
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "SSESpecification" in props:
        args["SSESpecification"] = {"Enabled": props["SSESpecification"]["SSEEnabled"]}
    client.create_table(**args)
    client.get_waiter("table_exists").wait(TableName=name)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr:
        client.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification=pitr
        )


if __name__ == "__main__":
    create(sys.argv[1], sys.argv[2])
