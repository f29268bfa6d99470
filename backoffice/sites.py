"""The admin site staff use: Django's, with a dashboard page and the club's key figures on the index."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path


class BackOfficeSite(admin.AdminSite):
    site_header = "Loyalty back office"
    site_title = "Loyalty back office"
    index_title = "Overview"
    site_url = None  # the project serves an API, not a site: the header links to the API docs instead

    def get_urls(self):
        return [path("dashboard/", self.admin_view(self.dashboard_view), name="dashboard"), *super().get_urls()]

    def dashboard_view(self, request):
        from backoffice import views

        return views.dashboard(request, site=self)

    def index(self, request, extra_context=None):
        from backoffice import views

        return super().index(request, {**views.index_context(request), **(extra_context or {})})
