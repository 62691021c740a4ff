"""Backoffice: admin panel and JSON API over one set of models, one policy, one audit log."""
