"""``python manage.py load_demo_review``: the synthetic demo review and its users (idempotent)."""
import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from studies.services.demo import DEMO_USERS, demo_review_load

DEFAULT_PASSWORD = "synthetic-demo-review"


class Command(BaseCommand):
    help = "Create the synthetic demo review and demo users; running it again changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Delete the demo review and build it again.")
        parser.add_argument(
            "--allow-production", action="store_true",
            help="Load demo users even with DEBUG off (they have a published password).",
        )

    def handle(self, *args, reset: bool, allow_production: bool, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "The demo users have a published password: refusing with DEBUG off. "
                "Pass --allow-production to load them anyway."
            )
        password = os.environ.get("DEMO_PASSWORD", DEFAULT_PASSWORD)
        review, created = demo_review_load(password=password, reset=reset)
        verb = "Created" if created else "Already present:"
        self.stdout.write(f"{verb} demo review '{review.title}' (/{review.slug}/). All its data are synthetic.")
        self.stdout.write("Demo logins (password for all: %s):" % password)
        for demo in DEMO_USERS:
            where = "back office at /admin/" if demo.is_staff else "review pages"
            self.stdout.write(f"  {demo.username:<18} {', '.join(demo.roles):<10} {where}")
