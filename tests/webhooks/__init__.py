"""Webhooks: outbox delivery, the worker process, SSRF guards, metrics and the API."""
