"""What operators run: the `backoffice` command, the worker, housekeeping, demo data."""
