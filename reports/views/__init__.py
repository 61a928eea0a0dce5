"""Analyst pages: the dialog viewer (viewer.py), report jobs (jobs.py) and the
dashboard (dashboard.py). Every view checks reports.access."""
