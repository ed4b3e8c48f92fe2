"""One module per page or group of routes."""
