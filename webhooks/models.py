"""Webhook endpoints, the transactional outbox and delivery attempts."""
