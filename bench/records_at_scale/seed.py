"""A records database seeded fast, by SQL: sites with their policy versions through the
ORM, then N consent records and the console's audit events in a few INSERT ... SELECT
FROM generate_series statements, spread over two years ending now.

Columns are looked up from the models' _meta (the ``values`` of insert_records and
insert_events name model fields, not columns), and rows go into the parent table, so a
partitioned table takes them as it takes the consent POST's. A column the model requires
and ``values`` does not fill stops the run with its name.

Every row is in id order of its time (ids rise with ``created_at``), as the POST writes
them: the sealer logs each kind in id order, and ``verify_audit`` calls a row that is
logged long after a later one "backdated". Rows are left unsealed (``leaf_index`` NULL);
measure.py inserts a month at a time and seals each as it goes.
"""

# Every identifier in this module's SQL comes from the models' _meta or its constants,
# every value is a literal of its own constants or a parameter.
# ruff: noqa: S608

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import NOT_PROVIDED, Model
from psycopg import sql

from consent.models import AuditEvent, Category, ConsentRecord, Method, PolicyVersion, Site

MONTHS = 24  # of records, from the first day of the month two years back to now
CHUNK = 1_000_000  # rows per INSERT statement (each its own transaction)
EVENTS_PER_DAY = 20  # staff changing texts, vendors, cookies: not proportional to traffic
REPEAT_SHARE = 0.2  # decisions by a returning browser (same consent id), about 4 each


@dataclass(frozen=True)
class SiteSpec:
    key: str
    name: str
    host: str
    share: float  # of all decisions
    # When each policy version was published, as a fraction of the two years; the last is
    # the current version, so the records before it are "outdated".
    versions: tuple[float, ...]


SITES = (
    SiteSpec("shop", "Big shop", "shop.example", 0.70, (0.0, 0.25, 0.5, 0.75, 0.96)),
    SiteSpec("news", "News", "news.example", 0.20, (0.0, 0.5, 0.9)),
    SiteSpec("blog", "Blog", "blog.example", 0.10, (0.0, 0.7)),
)

METHOD_MIX = (
    (Method.ACCEPT_ALL, 0.52),
    (Method.REJECT_ALL, 0.20),
    (Method.CUSTOM, 0.14),
    (Method.GPC, 0.07),
    (Method.DNT, 0.03),
    (Method.WITHDRAW, 0.04),
)
# In a custom decision, the chance that each optional category is allowed.
CUSTOM_ALLOWS = {"functional": 0.8, "advertising": 0.3}
# Picked with random()^2: the first languages far more often than the last.
LANGUAGES = ("en", "en-US", "de", "de-AT", "fr", "es", "it", "nl", "pl", "sv")
PATHS = ("/", "/cart", "/checkout", "/products/", "/blog/")


def literal(value) -> str:
    return sql.Literal(value).as_string(connection.connection)


def column(model: type[Model], name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def check_covered(model: type[Model], values: dict[str, str]) -> None:
    """Stops on a required field that the seed does not fill (a column added since)."""
    for field in model._meta.concrete_fields:
        if field.primary_key or field.name in values or field.null:
            continue
        if getattr(field, "generated", False) or field.db_default is not NOT_PROVIDED:
            continue
        raise SystemExit(
            f"bench/records_at_scale/seed.py fills no {model.__name__}.{field.name}: "
            "add it to its VALUES"
        )


def insert(model: type[Model], values: dict[str, str], source: str, params: list) -> int:
    check_covered(model, values)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(column(model, name) for name in values)
    expressions = ",\n       ".join(values.values())
    statement = f"INSERT INTO {table} ({columns})\nSELECT {expressions}\nFROM {source}"
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def fast_session() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")


def first_day(end: datetime) -> datetime:
    """Where the records begin: a month's first instant (UTC), so that the oldest month
    is whole, in one partition of its own where the table is partitioned by month."""
    month = end.year * 12 + end.month - 1 - MONTHS
    return end.replace(year=month // 12, month=month % 12 + 1, day=1, hour=0, minute=0,
                       second=0, microsecond=0)  # fmt: skip


def month_after(moment: datetime) -> datetime:
    month = moment.year * 12 + moment.month  # the next month, counted from 0
    return moment.replace(year=month // 12, month=month % 12 + 1, day=1)


# --- Sites ------------------------------------------------------------------------------


def create_sites(start: datetime, end: datetime) -> list[tuple[SiteSpec, Site]]:
    """The sites and their policy versions, through the ORM (their audit events too)."""
    made = []
    for spec in SITES:
        site = Site.objects.create(
            key=spec.key, name=spec.name, allowed_origins=f"https://{spec.host}"
        )
        for number, when in enumerate(spec.versions, 1):
            PolicyVersion.objects.create(
                site=site,
                summary=f"Version {number} of the cookie policy.",
                effective_date=(start + (end - start) * when).date(),
            )
        made.append((spec, site))
    return made


# --- Records ----------------------------------------------------------------------------


def _case(choices: list[tuple[str, str]], otherwise: str) -> str:
    branches = " ".join(f"WHEN {condition} THEN {value}" for condition, value in choices)
    return f"CASE {branches} ELSE {otherwise} END"


def _cumulative(weights: list[tuple[str, float]], draw: str) -> str:
    choices, total = [], 0.0
    for value, weight in weights[:-1]:
        total += weight
        choices.append((f"{draw} < {total:.6f}", value))
    return _case(choices, weights[-1][0])


def numbers_between(count: int, start: datetime, end: datetime, low: datetime, high: datetime):
    """Which of ``count`` rows spread evenly from ``start`` to ``end`` (numbered from 1,
    row i at start + (i - 1) * (end - start) / count) fall from ``low`` to before ``high``."""
    span = (end - start) // timedelta(microseconds=1)

    def before(moment: datetime) -> int:  # how many rows come before ``moment``
        offset = (moment - start) // timedelta(microseconds=1)
        return min(count, -(-offset * count // span))

    return range(before(low) + 1, before(high) + 1)


def insert_records(
    sites: list[tuple[SiteSpec, Site]],
    count: int,
    start: datetime,
    end: datetime,
    numbers: range | None = None,
) -> int:
    """Of ``count`` records spread evenly from ``start`` to just before ``end``, those
    numbered ``numbers`` (default: all)."""
    numbers = range(1, count + 1) if numbers is None else numbers
    optional = list(Category.objects.filter(required=False).values_list("slug", flat=True))
    step_us = (end - start) / timedelta(microseconds=1) / count
    pool = max(1, int(count * REPEAT_SHARE / 4))  # returning browsers: about 4 visits each
    site_of = _cumulative([(literal(site.pk), spec.share) for spec, site in sites], "r_site")
    method_of = _cumulative([(literal(m.value), w) for m, w in METHOD_MIX], "r_method")
    draws = ", ".join(f"random() AS r_{i}" for i in range(len(optional)))
    allows = {
        slug: _case(
            [
                (f"method = {literal(Method.ACCEPT_ALL.value)}", "true"),
                (
                    f"method = {literal(Method.CUSTOM.value)}",
                    f"r_{i} < {CUSTOM_ALLOWS.get(slug, 0.5)}",
                ),
            ],
            "false",
        )
        for i, slug in enumerate(optional)
    }
    categories = "jsonb_build_object('required', true" + "".join(
        f", {literal(slug)}, {expression}" for slug, expression in allows.items()
    ) + ")"  # fmt: skip
    any_allowed = " OR ".join(f"({e})" for e in allows.values()) or "false"
    versions = _case(
        [
            (
                f"site_id = {literal(site.pk)}",
                _case(
                    [
                        (f"at >= {literal(start + (end - start) * when)}::timestamptz", str(n))
                        for n, when in reversed(list(enumerate(spec.versions, 1)))
                    ],
                    "1",
                ),
            )
            for spec, site in sites
        ],
        "1",
    )
    hosts = _case([(f"site_id = {literal(s.pk)}", literal(spec.host)) for spec, s in sites], "''")
    lifetimes = _case(
        [
            (
                f"site_id = {literal(s.pk)}",
                f"CASE WHEN {any_allowed} THEN {s.consent_lifetime_days} "
                f"ELSE {s.refusal_lifetime_days} END",
            )
            for _, s in sites
        ],
        "365",
    )
    languages = "(ARRAY[" + ", ".join(literal(x) for x in LANGUAGES) + "])"
    paths = "(ARRAY[" + ", ".join(literal(x) for x in PATHS) + "])"
    values = {
        "consent_id": f"CASE WHEN r_visitor < {REPEAT_SHARE} "
        f"THEN md5('visitor:' || mod(i, {pool}))::uuid ELSE gen_random_uuid() END",
        "site": "site_id",
        "policy_version": versions,
        "texts_hash": "md5(site_id || '/' || language) || md5(language || '/' || site_id)",
        "categories": categories,
        "method": "method",
        "gpc": f"method = {literal(Method.GPC.value)}",
        "dnt": f"method = {literal(Method.DNT.value)} "
        f"OR (method = {literal(Method.GPC.value)} AND r_dnt < 0.3)",
        "language": "language",
        "page_url": f"'https://' || {hosts} || {paths}[1 + floor(r_page * {len(PATHS)})::int]"
        " || CASE WHEN r_page >= 0.6 THEN mod(i, 5000)::text ELSE '' END",
        "ip_prefix": "CASE WHEN r_ip < 0.1 THEN '2001:db8:' || to_hex(floor(r_ip * 655360)::int)"
        " || '::/48' ELSE (1 + floor(r_ip * 222))::int || '.' || floor(r_page * 256)::int || '.'"
        " || mod(i, 256) || '.0/24' END",
        "created_at": "at",
        "expires_at": f"at + make_interval(days => {lifetimes})",
        "decision_id": "gen_random_uuid()",
        "salt": "uuid_send(gen_random_uuid())",
        # Where the proxy said the visitor was, and the model that applied there.
        "region": "(ARRAY['DE', 'FR', 'GB', 'US-CA', 'US-NY', ''])[1 + floor(r_ip * 6)::int]",
        "privacy_model": "CASE WHEN r_ip >= 3.0 / 6 AND r_ip < 4.0 / 6 THEN 'opt_out' "
        "ELSE 'opt_in' END",
        "signal_conflict": f"method = {literal(Method.GPC.value)} AND r_dnt > 0.8",
    }
    # Innermost: the draws, once per row (a subquery with volatile functions is never
    # flattened into the one above it, so each draw is read consistently).
    source = f"""(
    SELECT drawn.*, {site_of} AS site_id, {method_of} AS method,
           {languages}[1 + floor(r_lang * r_lang * {len(LANGUAGES)})::int] AS language
    FROM (
        SELECT i, %s::timestamptz + make_interval(secs => (i - 1) * %s / 1e6) AS at,
               random() AS r_site, random() AS r_method, random() AS r_lang,
               random() AS r_visitor, random() AS r_page, random() AS r_ip, random() AS r_dnt
               {", " + draws if draws else ""}
        FROM generate_series(%s, %s) AS i
    ) AS drawn
) AS row"""
    written = 0
    for low in range(numbers.start, numbers.stop, CHUNK):
        high = min(low + CHUNK, numbers.stop) - 1
        written += insert(ConsentRecord, values, source, [start, step_us, low, high])
    return written


def event_count(start: datetime, end: datetime) -> int:
    return max(1, int((end - start) / timedelta(days=1) * EVENTS_PER_DAY))


def insert_events(start: datetime, end: datetime, numbers: range | None = None) -> int:
    """Staff editing banner texts, EVENTS_PER_DAY, evenly from ``start`` to ``end``: those
    numbered ``numbers`` (default: all)."""
    count = event_count(start, end)
    numbers = range(1, count + 1) if numbers is None else numbers
    step_us = (end - start) / timedelta(microseconds=1) / count
    keys = "(ARRAY[" + ", ".join(literal(spec.key) for spec in SITES) + "])"
    values = {
        "created_at": "%s::timestamptz + make_interval(secs => (i - 1) * %s / 1e6)",
        "actor": "(ARRAY['alice', 'bob', 'carol', 'dmitri'])[1 + mod(i, 4)]",
        "action": "'update'",
        "object_type": "'consent.BannerText'",
        "object_id": "(1 + mod(i, 12))::text",
        "object_repr": f"{keys}[1 + mod(i, {len(SITES)})] || ' (en)'",
        "site_key": f"{keys}[1 + mod(i, {len(SITES)})]",
        "before": "jsonb_build_object('title', 'Cookies ' || i)",
        "after": "jsonb_build_object('title', 'Cookies ' || (i + 1))",
        "data": "'{}'::jsonb",
        "salt": "uuid_send(gen_random_uuid())",
    }
    source = "generate_series(%s, %s) AS i"
    return insert(AuditEvent, values, source, [start, step_us, numbers.start, numbers.stop - 1])


def backdate_events(moment: datetime) -> int:
    """Gives the events written so far (the sites' creation, through the ORM, before any
    is sealed) the time the seeded history begins, so that the seeded events, later ids,
    are not older than they."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column(AuditEvent, 'created_at')} = %s "
            f"WHERE {column(AuditEvent, 'leaf_index')} IS NULL",
            [moment],
        )
        return cursor.rowcount
