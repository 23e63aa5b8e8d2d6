"""Build: rebuild a target through the Docker Engine build API."""
