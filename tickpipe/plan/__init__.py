"""``tickpipe plan``: shards, producer tasks and the AWS bill for a universe, from measured figures."""
