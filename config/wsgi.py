import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
application = get_wsgi_application()

# A refused configuration (an undeclared pooler, kit.db.postgresql) fails the worker's boot, and gunicorn stops.
from kit.db.postgresql.base import verify_at_start  # noqa: E402

verify_at_start()
