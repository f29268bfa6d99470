from django.urls import path

from loyalty.api import views

# Global (not club-scoped), mounted under /v1/.
v1_patterns = [
    path("tokens", views.ClientTokenListView.as_view(), name="tokens"),
    path("tokens/permits", views.PermitListView.as_view(), name="token-permits"),
    path("tokens/policies", views.PolicyListView.as_view(), name="token-policies"),
    path("tokens/<int:token_id>", views.ClientTokenDetailView.as_view(), name="token-detail"),
]

# Club-scoped, mounted under /v3/<lc>/.
v3_patterns: list = []
