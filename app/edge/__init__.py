"""The HTTP edge both web doors share: pure ASGI layers, problem responses, metrics."""
