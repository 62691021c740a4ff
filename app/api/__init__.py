"""The JSON API: dependencies and the versioned routers."""
