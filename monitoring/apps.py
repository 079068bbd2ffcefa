from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Liver safety monitoring"

    def ready(self):
        from subjects.models import Subject
        from subjects.signals import subject_data_changed

        from . import services

        def on_subject_data_changed(sender, subject, **kwargs):
            if sender is Subject:
                services.refresh_ulns([subject])
            services.mark_changed([subject.pk])

        subject_data_changed.connect(
            on_subject_data_changed, weak=False, dispatch_uid="monitoring.mark_changed"
        )

        from . import review

        review.connect_notifications()
