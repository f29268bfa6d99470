"""The staff back office: the admin site (dashboard, member overview, actions), demo data (`seed_demo`)."""
