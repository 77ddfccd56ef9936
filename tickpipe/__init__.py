"""tickpipe: Fyers API v3 market data into an AWS lake. Shared configuration, names and the CLI."""

__version__ = "0.1.0"
