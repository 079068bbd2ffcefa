"""Helpers that know nothing of hepwatch's apps: bulk writes with their audit history."""
