"""The domain, no I/O: the tick record (wire format), bar building, the NSE session calendar."""
