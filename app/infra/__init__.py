"""What the rest stands on: settings, the database, rate-limit counters, logging, JSON."""
