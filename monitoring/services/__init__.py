"""Writes, each in one transaction: lab entry, reviewers' decisions, dosing, notifications."""
