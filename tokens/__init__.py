"""Token service: login page + OAuth callback, scheduled refresh, SSM token store."""
