"""The consent domain: what visitors are told (Site, Category, Vendor, CookieDefinition,
PolicyVersion, BannerText) and what they decided (ConsentRecord), with the audit trail
(AuditEvent) and the transparency log (LogTile, TreeHead) that prove both.
"""

import secrets
import uuid
from contextlib import contextmanager
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.utils import timezone

from .rules import REQUIRED, Method
from .validators import (
    validate_category_slug,
    validate_category_texts,
    validate_cookie_domain,
    validate_cookie_name,
    validate_cookie_path,
    validate_exact_cookie_name,
    validate_hosts,
    validate_http_url,
    validate_language,
    validate_origins,
    validate_retention_days,
    validate_site_key,
)

KEY_VALIDATOR = validate_site_key


def new_site_key() -> str:
    return secrets.token_urlsafe(9)


class PrivacyModel(models.TextChoices):
    """What a visitor under a given law gets."""

    OPT_IN = "opt_in", "Opt-in: ask first; nothing optional before consent (GDPR)"
    OPT_OUT = (
        "opt_out",
        (
            "Opt-out: a notice and a Your Privacy Choices link; advertising on until the "
            "visitor or a signal opts out (US state laws)"
        ),
    )
    NOTICE = "notice", "Notice only: say what is used; no choice asked"


class Site(models.Model):
    """A website that embeds the banner. Its key is public: it appears in the embed URL."""

    name = models.CharField(max_length=200)
    key = models.CharField(
        "site key", max_length=64, unique=True, default=new_site_key, validators=[KEY_VALIDATOR]
    )
    allowed_origins = models.TextField(
        blank=True,
        validators=[validate_origins],
        help_text="Origins allowed to record consents, one per line, e.g. https://www.example.com",
    )
    default_language = models.CharField(max_length=16, default="en", validators=[validate_language])
    cookie_name = models.CharField(
        max_length=64, default="consent", validators=[validate_exact_cookie_name]
    )
    cookie_domain = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_cookie_domain],
        help_text="Blank: the page's own host. E.g. .example.com",
    )
    consent_lifetime_days = models.PositiveIntegerField(
        default=365, validators=[MinValueValidator(1)]
    )
    refusal_lifetime_days = models.PositiveIntegerField(
        default=182, validators=[MinValueValidator(1)]
    )
    retention_days = models.PositiveIntegerField(
        default=365 * 3,
        validators=[validate_retention_days],
        help_text="Consent records older than this are deleted by the daily retention task "
        "(never fewer days than CONSENT_RETENTION_MIN_DAYS).",
    )
    show_preferences_button = models.BooleanField(
        default=True, help_text="Show a floating 'Cookie Preferences' button on every page."
    )
    privacy_policy_url = models.URLField(blank=True, validators=[validate_http_url])
    default_privacy_model = models.CharField(
        "privacy model elsewhere",
        max_length=8,
        choices=PrivacyModel.choices,
        default=PrivacyModel.OPT_IN,
        help_text="For visitors no regional rule covers, and for every visitor when the "
        "platform is told no region (CONSENT_COUNTRY_HEADER unset).",
    )
    gpc_updated_on = models.DateField(
        "GPC handling last changed",
        default=timezone.localdate,
        help_text="The date /.well-known/gpc.json reports; moved to today whenever the "
        "regional rules or the model elsewhere change.",
    )
    auto_blocking = models.BooleanField(
        default=False,
        help_text="Hold back scripts, iframes, images and requests to the hosts of this "
        "site's vendors until their category is allowed, without editing the site's "
        "markup (tags added by a CMS or a tag manager included).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="consent_sites",
        help_text="Staff who may see and edit this site in the console (superusers see all).",
    )

    class Meta:
        ordering = ["name"]
        permissions = [
            (
                "change_evidence_settings",
                "Can change what affects evidence: retention, allowed origins",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if self.pk is not None:
            before = Site.objects.filter(pk=self.pk).values_list("default_privacy_model", flat=True)
            if before.first() not in (None, self.default_privacy_model):
                self.gpc_updated_on = timezone.localdate()
        super().save(*args, **kwargs)

    def gpc_changed(self) -> None:
        """How this site answers GPC changed today (a regional rule was edited)."""
        today = timezone.localdate()
        Site.objects.filter(pk=self.pk).exclude(gpc_updated_on=today).update(gpc_updated_on=today)
        self.gpc_updated_on = today

    def clean(self) -> None:
        # The banner writes this cookie on the site's pages: named like a session, CSRF
        # or other required cookie it would overwrite that one (the console's own, where
        # the site shares its origin).
        taken = {*settings.CONSENT_REQUIRED_COOKIES, settings.SESSION_COOKIE_NAME}
        taken.add(settings.CSRF_COOKIE_NAME)
        if self.cookie_name in taken:
            raise ValidationError(
                {"cookie_name": f"{self.cookie_name!r} is a required cookie's name."}
            )
        kept = max(self.consent_lifetime_days or 0, self.refusal_lifetime_days or 0)
        if self.retention_days is not None and self.retention_days < kept:
            raise ValidationError(
                {
                    "retention_days": f"Records must outlive the choices they prove: keep "
                    f"them at least {kept} days (the longest stored-choice lifetime)."
                }
            )

    def origins(self) -> list[str]:
        return [o.rstrip("/") for o in self.allowed_origins.split()]

    def current_policy_version(self) -> int:
        latest = self.policy_versions.order_by("-version").values_list("version", flat=True).first()
        return latest or 1


class Category(models.Model):
    """A purpose visitors consent to. Required is always on and cannot be removed."""

    slug = models.CharField(unique=True, max_length=32, validators=[validate_category_slug])
    name = models.CharField(max_length=100)
    description = models.TextField()
    required = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "slug"]
        verbose_name_plural = "categories"
        permissions = [("change_category_slug", "Can change a category's slug")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.clean()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.slug == REQUIRED:
            raise ValidationError("The Required category cannot be deleted.")
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        if self.slug == REQUIRED and not self.required:
            raise ValidationError({"required": "The Required category cannot be made optional."})
        if self.required and self.slug != REQUIRED:
            raise ValidationError({"required": "Only the Required category is always on."})
        stored = (
            Category.objects.filter(pk=self.pk).values_list("slug", flat=True).first()
            if self.pk
            else None
        )
        if stored is not None and stored != self.slug:
            # A slug is the key of every record's choices: renaming it would orphan them,
            # and the banner's posts would name a category the records never knew.
            if stored == REQUIRED:
                raise ValidationError({"slug": "The Required category's slug cannot change."})
            if ConsentRecord.objects.filter(categories__has_key=stored).exists():
                raise ValidationError(
                    {"slug": f"Consent records use {stored!r}: the slug can no longer change."}
                )


class Vendor(models.Model):
    """A third party whose tags a site loads (analytics, ads, video, ...)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="vendors")
    name = models.CharField(max_length=200)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="vendors")
    description = models.TextField(blank=True)
    privacy_policy_url = models.URLField(blank=True, validators=[validate_http_url])
    hosts = models.TextField(
        blank=True,
        validators=[validate_hosts],
        help_text="Hosts its tags load from, one per line (used for the CSP), e.g. "
        "www.googletagmanager.com or *.doubleclick.net",
    )

    class Meta:
        ordering = ["category__order", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="vendor_unique_name")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        # A vendor's cookies are always in the vendor's category.
        for cookie in self.cookies.exclude(category=self.category_id):
            cookie.category = self.category
            cookie.save()

    def host_list(self) -> list[str]:
        return self.hosts.split()


class CookieDefinition(models.Model):
    """A cookie a site sets, by exact name or a pattern such as ``_ga_*``."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="cookies")
    name = models.CharField(
        max_length=200,
        validators=[validate_cookie_name],
        help_text="Exact name, or a pattern with * (_ga_*).",
    )
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="cookies")
    vendor = models.ForeignKey(
        Vendor, on_delete=models.CASCADE, null=True, blank=True, related_name="cookies"
    )
    domain = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_cookie_domain],
        help_text="Blank: the site's own host.",
    )
    path = models.CharField(max_length=200, default="/", validators=[validate_cookie_path])
    lifetime_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Blank for a session cookie."
    )
    purpose = models.TextField(blank=True)

    class Meta:
        ordering = ["category__order", "name"]
        verbose_name = "cookie"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        vendor = self.vendor if self.vendor_id else None
        if vendor is not None and self.category_id and vendor.category_id != self.category_id:
            raise ValidationError({"category": f"The vendor {vendor} is in {vendor.category}."})


class PolicyVersion(models.Model):
    """A published version of what visitors are told. A new one asks every visitor again."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="policy_versions")
    version = models.PositiveIntegerField(editable=False)
    summary = models.TextField(help_text="What changed, in words a visitor would understand.")
    effective_date = models.DateField(default=timezone.localdate)
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.CharField(max_length=150, blank=True, editable=False)

    class Meta:
        ordering = ["site", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["site", "version"], name="policy_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.site} v{self.version}"

    def save(self, *args, **kwargs):
        if self.pk is None and not self.version:
            with transaction.atomic():
                last = (
                    PolicyVersion.objects.select_for_update()
                    .filter(site=self.site)
                    .order_by("-version")
                    .values_list("version", flat=True)
                    .first()
                )
                self.version = (last or 0) + 1
                return super().save(*args, **kwargs)
        return super().save(*args, **kwargs)


class RegionalRule(models.Model):
    """Which privacy model applies to visitors from some countries or US states. A rule
    for a subdivision (US-CA) wins over one for its country (US), which wins over the
    site's model elsewhere."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="regional_rules")
    name = models.CharField(max_length=100, help_text="e.g. EU/EEA")
    regions = models.TextField(
        help_text="ISO 3166 codes separated by spaces or commas: countries (DE, GB) and "
        "subdivisions (US-CA)."
    )
    privacy_model = models.CharField(max_length=8, choices=PrivacyModel.choices)

    class Meta:
        ordering = ["site", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="regional_rule_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.get_privacy_model_display().split(':')[0]}"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        self.site.gpc_changed()

    def delete(self, *args, **kwargs):
        site = self.site
        result = super().delete(*args, **kwargs)
        site.gpc_changed()
        return result

    def clean(self) -> None:
        from .regions import parse_codes

        try:
            self.regions = " ".join(parse_codes(self.regions))
        except ValidationError as exc:
            raise ValidationError({"regions": exc.messages}) from None
        if not self.regions:
            raise ValidationError({"regions": "Name at least one country or subdivision."})

    def codes(self) -> list[str]:
        return self.regions.split()


class BannerText(models.Model):
    """The banner's words for one site and language. Blank fields use the built-in text."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="texts")
    language = models.CharField(
        max_length=16, validators=[validate_language], help_text="e.g. en, de, fr, es, ar"
    )
    title = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    accept_all = models.CharField(max_length=60, blank=True)
    reject_all = models.CharField(max_length=60, blank=True)
    customise = models.CharField(max_length=60, blank=True)
    save_choices = models.CharField(max_length=60, blank=True)
    preferences = models.CharField(max_length=60, blank=True, help_text="'Cookie Preferences'")
    # The notice that the notice-only and opt-out models show instead of the question.
    notice_title = models.CharField(max_length=200, blank=True)
    notice_body = models.TextField(blank=True, help_text="Notice-only regions")
    opt_out_body = models.TextField(blank=True, help_text="Opt-out regions")
    ok = models.CharField("OK button", max_length=60, blank=True)
    opt_out = models.CharField("Opt-out button", max_length=60, blank=True)
    privacy_choices = models.CharField(
        "Opt-out link",
        max_length=60,
        blank=True,
        help_text="'Your Privacy Choices' or 'Do Not Sell or Share My Personal Information'",
    )
    category_texts = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_category_texts],
        help_text='Per category: {"functional": {"name": "...", "description": "..."}}',
    )

    class Meta:
        ordering = ["site", "language"]
        constraints = [
            models.UniqueConstraint(fields=["site", "language"], name="banner_text_unique")
        ]

    def __str__(self) -> str:
        return f"{self.site} ({self.language})"


# --- Records and proof -----------------------------------------------------------------


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an append-only row."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only.")

    def delete(self):
        raise AppendOnlyError(
            f"{self.model.__name__} rows leave only through erasure or retention purge."
        )

    def _sanctioned_delete(self) -> int:
        return self._raw_delete(self.db)

    def _sanctioned_update(self, **kwargs) -> int:
        """Erasure's crypto-shredding (consent.records) and nothing else."""
        return super().update(**kwargs)


class AppendOnlyModel(models.Model):
    """Rows are inserted once and never updated."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(
            f"{type(self).__name__} rows leave only through erasure or retention purge."
        )


def new_salt() -> bytes:
    return secrets.token_bytes(16)


class Logged(AppendOnlyModel):
    """A row that the sealer appends to the transparency log (consent.transparency.log).

    Its leaf is the hash of its canonical encoding and its ``salt``; ``leaf_index`` is
    where the sealer put it. Erasure deletes the row's personal content and its salt and
    keeps the row and its leaf: the log never changes, and the leaf can no longer be
    tied to anyone."""

    salt = models.BinaryField(max_length=16, null=True, default=new_salt, editable=False)
    leaf_index = models.BigIntegerField(null=True, unique=True, editable=False)
    created_at: datetime  # each kind declares its own column (ConsentRecord, AuditEvent)

    class Meta:
        abstract = True

    @property
    def erased(self) -> bool:
        return self.salt is None


class ConsentRecord(Logged):
    """One decision of one browser, as it was made. Maps onto an ISO/IEC TS 27560 record."""

    # Looked up through record_decision, whose first column it is. Erasure empties it
    # (and every other personal column) and keeps the row for its leaf.
    consent_id = models.UUIDField(default=uuid.uuid4, null=True)
    # No foreign key in the database: PostgreSQL would lock the site's row (FOR KEY
    # SHARE) for every decision written, which cost a third of the INSERT and makes every
    # writer of a site touch one hot row. PROTECT still keeps a site with records from
    # being deleted through Django, the only way the platform deletes anything.
    site = models.ForeignKey(
        Site,
        on_delete=models.PROTECT,
        related_name="records",
        db_constraint=False,
        db_index=False,  # record_site_time starts with it
    )
    policy_version = models.PositiveIntegerField()
    texts_hash = models.CharField(max_length=64, help_text="SHA-256 of the texts shown")
    categories = models.JSONField(help_text='Per category slug: allowed, e.g. {"functional": true}')
    method = models.CharField(max_length=16, choices=Method.choices)
    gpc = models.BooleanField("Sec-GPC seen", default=False)
    dnt = models.BooleanField("DNT seen", default=False)
    language = models.CharField(max_length=16, blank=True)
    page_url = models.CharField(max_length=500, blank=True)
    ip_prefix = models.CharField("IP (truncated)", max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decision_id = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text="The banner's id for this decision: a resent decision is recorded once.",
    )
    # Where the trusted proxy said the visitor was ("US-CA", "DE"; "" when not told) and
    # the privacy model that applied there (consent.regions).
    region = models.CharField(max_length=8, blank=True)
    privacy_model = models.CharField(max_length=8, choices=PrivacyModel.choices, blank=True)
    # The visitor asked for something optional that an opt-out signal (GPC, DNT) then
    # refused: the signal won, and the record says it contradicted the visitor's click.
    signal_conflict = models.BooleanField(default=False)
    # Not unique in the database: on PostgreSQL the table is partitioned by month
    # (consent.partitions), and a unique index there must hold the partition key. The
    # sealer gives each row its own leaf; verify_audit finds a leaf claimed twice.
    leaf_index = models.BigIntegerField(null=True, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["site", "created_at"], name="record_site_time"),
            # What the sealer reads: the rows not in the log yet, and only those.
            models.Index(
                fields=["id"], name="record_unsealed", condition=models.Q(leaf_index=None)
            ),
            # A visitor's records (receipts, erasure, search by consent id) and a resent
            # decision (records.record_consent looks it up: no unique constraint can
            # span the monthly partitions).
            models.Index(fields=["consent_id", "decision_id"], name="record_decision"),
            models.Index(fields=["leaf_index"], name="record_leaf"),
        ]
        permissions = [
            ("view_consent_id", "Can see whole consent ids and find a visitor by one"),
            ("erase_consentrecord", "Can erase a visitor's records"),
        ]

    def __str__(self) -> str:
        # No consent id: this string is shown wherever the admin names a record, and
        # only the privacy role sees whole ids.
        return f"Record #{self.pk} {self.method} {self.created_at:%Y-%m-%d %H:%M}"


class AuditEvent(Logged):
    """Who changed what visitors are told, and every erasure and purge of records."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=32)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    site_key = models.CharField(max_length=64, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["id"], name="event_unsealed", condition=models.Q(leaf_index=None)),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_repr}"


class LogTile(models.Model):
    """Up to 256 hashes of one level of the transparency log's tree (C2SP tlog-tiles,
    consent.transparency.tiles). Only the rightmost tile of each level is rewritten, as
    it grows; a full tile never changes."""

    level = models.SmallIntegerField()
    index = models.BigIntegerField()
    hashes = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="log_tile_key")]

    def __str__(self) -> str:
        return f"tile {self.level}/{self.index}"


class TreeHead(AppendOnlyModel):
    """A signed tree head: the log's size and root at a time, signed with Ed25519."""

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.BinaryField(max_length=32)
    timestamp = models.BigIntegerField(help_text="Milliseconds since 1970-01-01 UTC")
    signature = models.BinaryField(max_length=64)
    key_id = models.CharField(max_length=16)

    class Meta:
        ordering = ["-tree_size"]

    def __str__(self) -> str:
        return f"head {self.tree_size}"


class SealedMonth(models.Model):
    """How many consent records of one month (UTC) and one site the sealer has appended to
    the log. With SealedRun, what the retention purge names when it drops a month's
    partition, read instead of the month's rows (consent.records.purge_partitions).

    A speed-up, never evidence: verify_audit reads none of it, and excuses a leaf without
    a row only where a purge event names it and the tree says it was signed before the
    event's cutoff, whatever this table said when the event was written."""

    month = models.DateField(help_text="Its first day")
    site_id = models.BigIntegerField()
    records = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["month", "site_id"], name="sealed_month_key")
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} site {self.site_id}: {self.records} records"


class SealedRun(models.Model):
    """Consecutive leaves, ``first_leaf`` to ``last_leaf``, that the sealer gave consent
    records of one month (UTC): a month's records take a few runs (audit events come in
    between), not one row each. See SealedMonth."""

    month = models.DateField(help_text="Its first day")
    first_leaf = models.BigIntegerField()
    last_leaf = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["month", "last_leaf"], name="sealed_run_end")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: leaves {self.first_leaf}-{self.last_leaf}"


# --- Operations: exports, statistics, cookie scans ---------------------------------------


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Job(models.Model):
    """Work a staff user asks for in the admin and a Celery task does: an export, a scan.

    The task runs the work inside ``running()`` and ends with ``finish()``; each writes
    only the bookkeeping columns, so a task and the admin never overwrite each other.
    """

    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.PENDING)
    requested_by = models.CharField(max_length=150, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True

    def _set(self, **fields) -> None:
        type(self)._default_manager.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)

    @contextmanager
    def running(self):
        """Marks the job running for the block; if the block raises, marks it failed with
        the error in one line for the admin and lets the error go on (Celery retries)."""
        self._set(status=JobStatus.RUNNING, started_at=timezone.now(), error="")
        try:
            yield
        except Exception as exc:
            self._set(
                status=JobStatus.FAILED,
                error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=timezone.now(),
            )
            raise

    def finish(self, **results) -> None:
        """Marks the job done, with what it produced."""
        self._set(status=JobStatus.DONE, finished_at=timezone.now(), **results)


class ExportJob(Job):
    """A consent-log export requested from the admin and written by a Celery task."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines (ISO/IEC TS 27560 field names)"

    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, null=True, blank=True, help_text="Blank: every site."
    )
    date_from = models.DateField(null=True, blank=True, help_text="First day included (UTC).")
    date_to = models.DateField(null=True, blank=True, help_text="Last day included (UTC).")
    consent_id = models.UUIDField(
        null=True, blank=True, help_text="Only the records of one browser (access, portability)."
    )
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.CSV)
    row_count = models.PositiveBigIntegerField(default=0)
    size_bytes = models.PositiveBigIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "export"

    def __str__(self) -> str:
        return f"Export #{self.pk} ({self.get_format_display()})"

    def clean(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValidationError({"date_to": "The last day comes before the first day."})


class DailyStat(models.Model):
    """Decisions of one day on one site by one method: counts only, nothing per visitor."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="daily_stats")
    date = models.DateField()
    method = models.CharField(max_length=16, choices=Method.choices)
    total = models.PositiveIntegerField(default=0)
    allowed = models.JSONField(
        default=dict, help_text='Decisions allowing each optional category: {"functional": 12}'
    )
    gpc = models.PositiveIntegerField("Sec-GPC seen", default=0)
    dnt = models.PositiveIntegerField("DNT seen", default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "site", "method"]
        verbose_name = "daily statistic"
        constraints = [
            models.UniqueConstraint(fields=["site", "date", "method"], name="daily_stat_unique")
        ]

    def __str__(self) -> str:
        return f"{self.site} {self.date} {self.method}: {self.total}"


def is_on_site(site: Site, url: str) -> bool:
    """Whether a page is on one of the site's allowed origins. The scanner visits no other
    page, so the admin cannot be used to make the server fetch internal addresses."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return parts.scheme in ("http", "https") and origin in {o.lower() for o in site.origins()}


class CookieScan(Job):
    """A headless-browser visit of a site's pages, before consent and after accept all."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="scans")
    urls = models.TextField(
        help_text="Pages to visit, one per line, each on one of the site's allowed origins."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "cookie scan"

    def __str__(self) -> str:
        return f"Scan #{self.pk} of {self.site}"

    def url_list(self) -> list[str]:
        return self.urls.split()

    def clean(self) -> None:
        if not self.site_id:
            return
        for url in self.url_list():
            if not is_on_site(self.site, url):
                raise ValidationError(
                    {"urls": f"{url} is not on one of {self.site}'s allowed origins."}
                )
        if not self.url_list():
            raise ValidationError({"urls": "Give at least one page to visit."})


class ScanFinding(models.Model):
    """One cookie or third-party request host the scanner saw on one page in one phase."""

    class Kind(models.TextChoices):
        COOKIE = "cookie", "Cookie"
        REQUEST = "request", "Third-party request"

    class Phase(models.TextChoices):
        BEFORE = "before", "Before consent"
        AFTER = "after", "After accept all"

    scan = models.ForeignKey(CookieScan, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    phase = models.CharField(max_length=8, choices=Phase.choices)
    page_url = models.CharField(max_length=500)
    name = models.CharField(max_length=255, help_text="Cookie name, or the request's host.")
    domain = models.CharField(max_length=255, blank=True)
    path = models.CharField(max_length=255, blank=True)
    lifetime_days = models.FloatField(null=True, blank=True, help_text="Blank: session cookie.")
    http_only = models.BooleanField(default=False)
    secure = models.BooleanField(default=False)
    same_site = models.CharField(max_length=8, blank=True)
    third_party = models.BooleanField(default=False)

    class Meta:
        ordering = ["scan", "kind", "phase", "name"]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.phase})"
