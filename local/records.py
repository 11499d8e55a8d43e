"""Prints the channels-table items of one identity as JSON: its active slot and, when there is
one, its chat record. For the smoke script and the browser test.

Usage: records.py ENDPOINT_URL TABLE IDENTITY
"""

import json
import sys

from boto3.dynamodb.types import TypeDeserializer

from create_table import local_dynamodb


def main(endpoint, table, identity):
    client = local_dynamodb(endpoint)
    plain = TypeDeserializer()

    def get(key):
        item = client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return {k: plain.deserialize(v) for k, v in item.items()} if item else None

    active = get(f"active#{identity}")
    chat = get(f"chat#{active['channelSid']}") if active and "channelSid" in active else None
    print(json.dumps({"active": active, "chat": chat}, default=int))


if __name__ == "__main__":
    main(*sys.argv[1:])
