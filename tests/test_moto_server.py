"""The local AWS stand-in: boto3 clients reach the moto server through AWS_ENDPOINT_URL alone."""


def test_boto3_reaches_the_moto_server_through_the_environment(aws):
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=2)
    shards = kinesis.list_shards(StreamName="s")["Shards"]
    assert len(shards) == 2


def test_reset_gives_each_test_an_empty_account(aws):
    assert aws.client("kinesis").list_streams()["StreamNames"] == []
