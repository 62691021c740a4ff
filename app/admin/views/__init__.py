"""The admin's model views: each writes through its domain service."""
