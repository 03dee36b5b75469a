"""Seed the demo site and local logins. Safe to run again: it never duplicates anything."""

import secrets

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.urls import reverse

from consent import owner_only
from consent.models import BannerText, Category, CookieDefinition, PolicyVersion, Site, Vendor

DEMO_VENDORS: list[tuple[str, str, str, str, str, list[tuple[str, str, int | None, str]]]] = [
    # (category, name, description, privacy url, hosts, cookies: (name, domain, days, purpose))
    (
        "required",
        "Demo shop",
        "This site itself.",
        "",
        "",
        [
            ("sessionid", "", None, "Keeps you signed in and remembers your basket."),
            ("csrftoken", "", 365, "Protects forms against cross-site request forgery."),
            ("consent", "", 365, "Remembers your cookie choices."),
        ],
    ),
    (
        "functional",
        "Google Analytics",
        "Measures how the site is used, to improve it.",
        "https://policies.google.com/privacy",
        "www.google-analytics.com\nwww.googletagmanager.com",
        [
            ("_ga", "", 730, "Distinguishes visitors for usage statistics."),
            ("_ga_*", "", 730, "Keeps the state of an analytics session."),
            ("_gid", "", 1, "Distinguishes visitors for one day."),
        ],
    ),
    (
        "functional",
        "YouTube",
        "Plays embedded videos.",
        "https://policies.google.com/privacy",
        "www.youtube-nocookie.com\nwww.youtube.com",
        [
            (
                "VISITOR_INFO1_LIVE",
                ".youtube.com",
                180,
                "Estimates bandwidth for the video player.",
            ),
            ("YSC", ".youtube.com", None, "Counts video views."),
        ],
    ),
    (
        "advertising",
        "Meta Pixel",
        "Measures ads and shows relevant ads on Meta's services.",
        "https://www.facebook.com/privacy/policy/",
        "connect.facebook.net\nwww.facebook.com",
        [
            ("_fbp", "", 90, "Identifies the browser for ad delivery and measurement."),
        ],
    ),
    (
        "advertising",
        "Google Ads",
        "Shows and measures ads across sites.",
        "https://policies.google.com/technologies/ads",
        "googleads.g.doubleclick.net\n*.doubleclick.net\nwww.googleadservices.com",
        [
            ("_gcl_au", "", 90, "Measures ad conversions."),
            ("IDE", ".doubleclick.net", 390, "Shows ads relevant to your interests."),
        ],
    ),
]

DEMO_ORIGINS = ["http://localhost:8000", "http://127.0.0.1:8000"]


class Command(BaseCommand):
    help = "Create the demo site (three categories, vendors, cookies, texts) and local logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            help="Another origin allowed to record consents for the demo site.",
        )
        parser.add_argument("--no-users", action="store_true", help="Create no logins.")

    def handle(self, *args, origin, no_users, **options):
        key = settings.CONSENT_SITE_KEY
        site, _created = Site.objects.get_or_create(
            key=key,
            defaults={
                "name": "Demo shop",
                "privacy_policy_url": "https://example.com/privacy",
                "allowed_origins": "\n".join(DEMO_ORIGINS),
            },
        )
        wanted = [o for o in DEMO_ORIGINS + origin if o not in site.origins()]
        if wanted:
            site.allowed_origins = "\n".join(site.origins() + wanted)
            site.save()
        categories = {c.slug: c for c in Category.objects.all()}
        for slug, name, description, url, hosts, cookies in DEMO_VENDORS:
            vendor, _ = Vendor.objects.get_or_create(
                site=site,
                name=name,
                defaults={
                    "category": categories[slug],
                    "description": description,
                    "privacy_policy_url": url,
                    "hosts": hosts,
                },
            )
            for cookie_name, domain, days, purpose in cookies:
                CookieDefinition.objects.get_or_create(
                    site=site,
                    name=cookie_name,
                    vendor=vendor,
                    defaults={
                        "category": categories[slug],
                        "domain": domain,
                        "lifetime_days": days,
                        "purpose": purpose,
                    },
                )
        for language in ("en", "de", "fr", "es"):
            BannerText.objects.get_or_create(site=site, language=language)
        if not site.policy_versions.exists():
            PolicyVersion.objects.create(site=site, summary="First published cookie policy.")
        script, page = reverse("consent-script", args=[site.key]), reverse("demo")
        self.stdout.write(f"Demo site '{site.name}' ready: embed {script}, page {page}")
        if not no_users:
            self.ensure_user("admin", superuser=True)
            # Staff see the sites granted to them: both roles are granted the demo site.
            site.staff.add(self.ensure_user("marketing", group="Marketing ops"))
            site.staff.add(self.ensure_user("privacy", group="Privacy"))

    def ensure_user(self, username: str, superuser: bool = False, group: str = "") -> User:
        password_file = settings.VAR_DIR / f"{username}-password.txt"
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_user(
                username, password=password, is_staff=True, is_superuser=superuser
            )
            if group:
                user.groups.add(Group.objects.get(name=group))
            with owner_only.open_for_writing(password_file) as out:
                out.write(password + "\n")
        if password_file.exists():
            password = password_file.read_text().strip()
            self.stdout.write(f"  login {username} / {password}")
        else:
            self.stdout.write(f"  login {username} (password set earlier)")
        return user
