"""flex_handoff_dev.moto_atomic reaches into moto's internals: these fail when a moto upgrade
changes what it patches or relies on, before the stand-in silently stops being atomic."""

import copy
import importlib
import inspect
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from flex_handoff_dev import moto_atomic
from flex_handoff_dev.aws_local import create_table, start_moto

Backend = dynamodb_models.DynamoDBBackend


def resolve(dotted):
    """The object a dotted name names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise ImportError(dotted)


def parameters(function):
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize("dotted", sorted(moto_atomic.PATCHED))
def test_every_name_the_patches_touch_still_exists(dotted):
    if dotted.endswith("Table.hash_key_attr"):
        assert "self.hash_key_attr" in inspect.getsource(Table.__init__)
        assert "self.range_key_attr" in inspect.getsource(Table.__init__)
    else:
        resolve(dotted)


def test_transactions_still_deep_copy_through_the_models_copy_module():
    # _TablesNotCopied replaces `dynamodb_models.copy`; that only matters while the backend's
    # transaction deep-copies through that name.
    assert dynamodb_models.copy is copy, "moto.dynamodb.models no longer imports copy as a module"
    assert "copy.deepcopy(" in inspect.getsource(Backend.transact_write_items)
    assert parameters(Backend.transact_write_items) == ["self", "transact_items"]


def test_the_handler_still_reads_the_request_as_self_body():
    assert parameters(DynamoHandler.transact_write_items) == ["self"]
    assert "self.body" in inspect.getsource(DynamoHandler.transact_write_items)


def test_the_item_methods_the_rollback_calls_keep_their_arguments():
    assert parameters(Backend.get_item)[:3] == ["self", "table_name", "keys"]
    assert parameters(Backend.put_item)[:3] == ["self", "table_name", "item_attrs"]
    assert parameters(Backend.delete_item)[:3] == ["self", "table_name", "key"]


@pytest.fixture(scope="module")
def dynamodb():
    url, process = start_moto()
    table = f"moto-atomic-{uuid.uuid4().hex[:8]}"
    create_table(url, table)
    client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    yield client, table
    process.kill()
    process.wait()


def put(table, key, condition=None):
    entry = {"Put": {"TableName": table, "Item": {"pk": {"S": key}}}}
    if condition:
        entry["Put"]["ConditionExpression"] = condition
    return entry


def test_a_cancelled_transaction_leaves_nothing_behind(dynamodb):
    client, table = dynamodb
    taken = f"taken-{uuid.uuid4().hex}"
    client.put_item(TableName=table, Item={"pk": {"S": taken}})
    fresh = f"fresh-{uuid.uuid4().hex}"
    with pytest.raises(ClientError) as refused:
        client.transact_write_items(TransactItems=[
            put(table, fresh), put(table, taken, "attribute_not_exists(pk)")])
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert "Item" not in client.get_item(TableName=table, Key={"pk": {"S": fresh}}, ConsistentRead=True)


def test_a_repeated_client_request_token_is_answered_as_committed(dynamodb):
    # What the SDK's retry after a lost answer sends: DynamoDB answers it without applying it again.
    client, table = dynamodb
    key, token = f"once-{uuid.uuid4().hex}", uuid.uuid4().hex
    items = [put(table, key, "attribute_not_exists(pk)")]
    client.transact_write_items(TransactItems=items, ClientRequestToken=token)
    client.transact_write_items(TransactItems=items, ClientRequestToken=token)
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=items, ClientRequestToken=uuid.uuid4().hex)
