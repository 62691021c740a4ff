"""The soak of issue 19 (make soak); skipped unless SOAK=1."""
