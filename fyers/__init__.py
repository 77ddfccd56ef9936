"""Fyers API v3 client: auth, symbols, history, data-socket codec and client."""
