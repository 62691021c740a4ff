"""Roles: named permission sets (built-ins protected)."""
