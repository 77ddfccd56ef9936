"""Token service: the SSM token store and the daily refresh Lambda (a person logs in by browser every 15 days)."""
