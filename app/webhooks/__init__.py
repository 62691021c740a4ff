"""Webhooks: endpoints, the transactional outbox and delivery."""
