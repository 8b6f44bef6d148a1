"""Baselines the harness runs beside the platform, under the same gunicorn settings."""
