"""Reading the audit log (writing is app.audit)."""
