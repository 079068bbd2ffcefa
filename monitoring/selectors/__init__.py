"""Reads for pages: subjects, alerts and cases, the dashboard, the audit history."""
