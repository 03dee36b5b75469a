"""Which database a query goes to: the primary, or a streaming replica for heavy reads.

With ``DATABASE_REPLICA_URL`` set, settings add the ``replica`` alias and ``ReplicaRouter``.
Reads go to the replica only inside ``reads_from_replica()``, which the code that may
show slightly old data opts into: the console's record lists and statistics
(``replica_for_get`` on their changelist views) and exports. Everything else reads from
the primary, and every write goes there: the consent POST, the visitor's receipt (it
must show the decision just written), the sealer, erasure, logins.

Inside the block, reads still go to the primary where the replica's lag would show or
matter:

- inside ``transaction.atomic()`` on the primary: a transaction reads what it wrote;
- once the block has written anything: what follows reads its own writes;
- for everything but the tables that grow with traffic (``REPLICA_MODELS``): users,
  permissions and site grants are always read from the primary, so a revoked grant
  takes effect at once.

A replica that cannot be reached sends the block's reads to the primary for
``RETRY_AFTER`` seconds instead of failing the page. Without a ``replica`` alias the
block changes nothing.
"""

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, HttpResponseBase
from django.template.response import SimpleTemplateResponse

log = logging.getLogger(__name__)

REPLICA = "replica"
# The append-only evidence and the statistics made from it: what the console lists,
# the dashboard sums and exports write out.
REPLICA_MODELS = frozenset({"consent.consentrecord", "consent.auditevent", "consent.dailystat"})
RETRY_AFTER = 30.0


@dataclass
class _Block:
    wrote: bool = False


_block: ContextVar[_Block | None] = ContextVar("consent_reads_from_replica", default=None)
_unreachable_until = 0.0


def _replica_reachable() -> bool:
    global _unreachable_until
    if REPLICA not in settings.DATABASES or time.monotonic() < _unreachable_until:
        return False
    try:
        connections[REPLICA].ensure_connection()
    except DatabaseError as error:
        _unreachable_until = time.monotonic() + RETRY_AFTER
        log.warning("replica unreachable, reading from the primary for %ss: %s", RETRY_AFTER, error)
        return False
    return True


@contextmanager
def reads_from_replica() -> Iterator[None]:
    """Reads in the block (or the decorated function) may come from the replica.
    Nested blocks are one block."""
    if _block.get() is not None or not _replica_reachable():
        yield
        return
    token = _block.set(_Block())
    try:
        yield
    finally:
        _block.reset(token)


def replica_for_get(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """For a view that lists or sums (a changelist, with ``method_decorator``): a GET or
    HEAD reads from the replica, rendering included, since a TemplateResponse runs its
    queries when it is rendered, after the view has returned. Any other method (an
    action's POST) reads and writes on the primary."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        if request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        with reads_from_replica():
            response = view(request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
                response.render()
        return response

    return wrapper


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str:
        block = _block.get()
        if (
            block is None
            or block.wrote
            or model._meta.label_lower not in REPLICA_MODELS
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints) -> str:
        block = _block.get()
        if block is not None:
            block.wrote = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # one database, and a copy of it

    def allow_migrate(self, db: str, app_label: str, model_name=None, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS
