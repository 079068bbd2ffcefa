"""The monitoring app, and the wiring of its signals: what is connected here may not be imported
the other way (subjects never imports monitoring; evaluation never imports tasks)."""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Liver safety monitoring"

    def ready(self):
        from monitoring import signals, tasks
        from monitoring.evaluation import runner
        from monitoring.services import lab_entry, notifications
        from subjects.models import Subject
        from subjects.signals import subject_data_changed, subjects_data_changed

        def on_subject_data_changed(sender, subject, **kwargs):
            if sender is Subject:
                lab_entry.refresh_ulns([subject])
            runner.mark_changed([subject.pk])

        def on_subjects_data_changed(sender, subject_pks, resolve_ulns, evaluate, **kwargs):
            if resolve_ulns:
                lab_entry.refresh_ulns(resolve_ulns)
            runner.mark_changed(subject_pks, evaluate=evaluate)

        subject_data_changed.connect(
            on_subject_data_changed, weak=False, dispatch_uid="monitoring.mark_changed"
        )
        subjects_data_changed.connect(
            on_subjects_data_changed, weak=False, dispatch_uid="monitoring.mark_many_changed"
        )
        signals.evaluation_requested.connect(
            tasks.on_evaluation_requested, weak=False, dispatch_uid="monitoring.enqueue"
        )
        signals.export_requested.connect(
            tasks.on_export_requested, weak=False, dispatch_uid="monitoring.export"
        )
        notifications.connect_notifications()
