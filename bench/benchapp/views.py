"""Reference views on the platform's own stack (settings, middleware, gunicorn, database).

``bare`` is the floor every JSON endpoint stands on; ``insert`` adds one plain INSERT
and its commit, what a consent POST that writes one row per request costs at least.
"""

import json

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

TABLE = "bench_plain_insert"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} "
    "(id bigserial PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL)"
)


@csrf_exempt
@require_POST
def bare(request):
    return JsonResponse({"ok": True, "fields": len(json.loads(request.body))}, status=201)


@csrf_exempt
@require_POST
def insert(request):
    body = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (body, created_at) VALUES (%s, now()) RETURNING id",  # noqa: S608
            [json.dumps(body)],
        )
        (row_id,) = cursor.fetchone()
    return JsonResponse({"ok": True, "id": row_id}, status=201)
