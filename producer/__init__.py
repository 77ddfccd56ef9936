"""The producer: Fyers data socket → ticks → shard-aware KPL aggregation → Kinesis PutRecords.

Entry point for programs: :func:`producer.service.run_producer`; for people: ``tickpipe produce``.
"""
