"""Signals that let monitoring react to subject data without subjects importing monitoring."""

from django.dispatch import Signal

# Sent inside the writing transaction whenever a subject's safety-relevant data changed
# (the subject itself or its doses). Argument: subject.
subject_data_changed = Signal()

# Sent inside the writing transaction by a bulk write (an import) of subjects or doses.
# Arguments: subject_pks (whose safety data changed), resolve_ulns (subjects whose sex or birth
# date changed, so their results' ULNs must be resolved again) and evaluate (False when the
# caller asks for evaluation itself, once for all its files).
subjects_data_changed = Signal()
