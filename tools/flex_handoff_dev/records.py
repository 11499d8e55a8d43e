"""Prints the channels-table items of one identity as JSON: its active slot and, when there is
one, its chat record (or the record of CHANNEL_SID when given). For the smoke script and the
browser test.

Usage: python3 -m flex_handoff_dev.records ENDPOINT_URL TABLE IDENTITY [CHANNEL_SID]
"""

import json
import sys

from boto3.dynamodb.types import TypeDeserializer

from flex_handoff_dev.create_table import local_dynamodb


def main(endpoint, table, identity, channel_sid=None):
    client = local_dynamodb(endpoint)
    plain = TypeDeserializer()

    def get(key):
        item = client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return {k: plain.deserialize(v) for k, v in item.items()} if item else None

    active = get(f"active#{identity}")
    if channel_sid is None and active:
        channel_sid = active.get("channelSid")
    chat = get(f"chat#{channel_sid}") if channel_sid else None
    print(json.dumps({"active": active, "chat": chat}, default=int))


if __name__ == "__main__":
    main(*sys.argv[1:])
