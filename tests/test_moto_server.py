"""The local AWS stand-in: boto3 clients reach the moto server through AWS_ENDPOINT_URL alone."""


def test_boto3_reaches_the_moto_server_through_the_environment(aws):
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=2)
    shards = kinesis.list_shards(StreamName="s")["Shards"]
    assert len(shards) == 2


def test_reset_gives_each_test_an_empty_account(aws):
    assert aws.client("kinesis").list_streams()["StreamNames"] == []


def test_concurrent_producers_writing_one_shard_lose_no_record(aws):
    """Kinesis gives every record its own sequence number; moto alone hands the same one to records
    put at the same moment (local/moto_main.py serialises its shards)."""
    import threading

    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="race", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName="race")
    writers, calls, per_call = 4, 25, 40
    errors: list[BaseException] = []

    def write(w: int) -> None:
        client = aws.client("kinesis")
        try:
            for c in range(calls):
                resp = client.put_records(StreamName="race", Records=[
                    {"Data": f"{w}-{c}-{i}".encode(), "PartitionKey": "k"} for i in range(per_call)])
                assert resp["FailedRecordCount"] == 0
        except BaseException as exc:  # noqa: BLE001 - any failure in the thread is reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    shard = kinesis.list_shards(StreamName="race")["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamName="race", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got: list[bytes] = []
    while True:
        page = kinesis.get_records(ShardIterator=it, Limit=10_000)
        got += [r["Data"] for r in page["Records"]]
        if not page["Records"]:
            break
        it = page["NextShardIterator"]
    assert len(got) == len(set(got)) == writers * calls * per_call
