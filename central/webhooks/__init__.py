"""Signed webhooks: feed items POSTed to subscribers from an outbox, with retries
(docs/feeds.md "Webhooks"). :mod:`~central.webhooks.signing` is pure; the delivery loop is
:class:`~central.webhooks.worker.WebhookWorker`."""
