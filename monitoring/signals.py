"""Signals monitoring sends to the rest of the app."""

from django.dispatch import Signal

# Sent once an evaluation at the present time has committed, with the primary keys of the
# alerts it opened (not those it kept or raised again). Argument: alert_pks.
alerts_opened = Signal()

# Sent once a change to these subjects' safety data has committed. Argument: subject_pks.
# monitoring.tasks queues their evaluation; evaluation itself never imports the tasks.
evaluation_requested = Signal()

# Sent once an export job (monitoring.models.ExportJob) has committed. Argument: job_pk.
# monitoring.tasks builds it; the services never import the tasks.
export_requested = Signal()
