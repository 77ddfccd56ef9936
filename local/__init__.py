"""AWS on one machine: the moto server, the Kinesis→Lambda runner, the Firehose pump, the scheduler
and the demo. Only this package is local-only code; handlers, producer and client are production code.
"""
