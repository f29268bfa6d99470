from django.urls import path

from webhooks.api import subscription_views, views

# Club-scoped, mounted under /v3/<lc>/.
v3_patterns: list = [
    path("webhooks", views.WebhookListView.as_view(), name="webhooks"),
    path("webhooks/<int:webhook_id>", views.WebhookDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<int:webhook_id>/deliveries", views.WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
]

# The published Members Webhooks' subscriptions (webhooks/api/subscription_views.py).
v3_patterns += subscription_views.v3_patterns
