"""Staff users: creation, roles, deactivation."""
