"""Signals that let monitoring react to subject data without subjects importing monitoring."""

from django.dispatch import Signal

# Sent inside the writing transaction whenever a subject's safety-relevant data changed
# (the subject itself or its doses). Argument: subject.
subject_data_changed = Signal()
