from django.core.management.base import BaseCommand

from monitoring import demo
from subjects.models import Subject


class Command(BaseCommand):
    help = "Seed a realistic synthetic mipomersen study and one demo user per role."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when subjects already exist"
        )
        parser.add_argument("--subjects", type=int, default=60)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--blinded",
            action="store_true",
            help="run the study double-blind (set_blinding); only the statistician sees arms",
        )

    def handle(self, *args, if_empty, subjects, seed, blinded, **options):
        if Subject.objects.exists():
            if if_empty:
                self.stdout.write("Demo data already present; not seeding again.")
                self._print_users()
                return
            self.stderr.write("Subjects already exist; seed_demo only seeds an empty study.")
            raise SystemExit(1)
        plans = demo.seed(seed_value=seed, n_subjects=subjects, blinded=blinded)
        self.stdout.write(f"Seeded {len(plans)} subjects with their doses and labs.")
        self._print_users()

    def _print_users(self):
        self.stdout.write("Demo users (demo only), password " + repr(demo.DEMO_PASSWORD) + ":")
        for username, group, _name, sites in demo.DEMO_USERS:
            where = f" (sites {', '.join(sites)})" if sites else ""
            unblinded = " + unblinded" if username in demo.DEMO_UNBLINDED else ""
            self.stdout.write(f"  {username:<16} {group}{unblinded}{where}")
        self.stdout.write(f"  {'admin':<16} staff (Django admin)")
        self.stdout.write(
            "Safety reviewers, unblinded users and admin also confirm each sign-in with a code "
            "from an authenticator app: their first sign-in shows a QR code to scan."
        )
