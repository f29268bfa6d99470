from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps  # the module, so its AdminConfig is no candidate here


class BackofficeConfig(AppConfig):
    """Depends on every domain app (loyalty, offers, rewards, webhooks); nothing depends on it."""

    name = "backoffice"
    verbose_name = "Back office"
    default = True


class BackOfficeAdminConfig(admin_apps.AdminConfig):
    """`django.contrib.admin` with our site as `admin.site`: every `@admin.register` keeps working and the
    site adds the dashboard and the headline figures on its index page."""

    default = False
    default_site = "backoffice.sites.BackOfficeSite"
