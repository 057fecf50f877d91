"""Revocation as Django Tasks, for sites whose users outgrow one process.

``twitter_oauth_revoke --enqueue`` splits the selection into batches of token ids and
enqueues :data:`revoke_tokens` once per batch on the site's configured tasks backend
(``TASKS``): django-tasks-db workers, RQ on Redis, Celery through a bridge. Each task
re-selects its ids, so ids already gone are skipped and duplicates or retries are
harmless. Uses ``django.tasks`` on Django 6.x and the django-tasks backport on 5.2
(``pip install "django-twitter-oauth[tasks]"``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

from django_twitter_oauth import revocation
from django_twitter_oauth.models import AccessToken, with_users

try:  # Django 6.0+
    from django.tasks import task  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Django 5.2: the backport, when installed
    try:
        from django_tasks import task  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError as exc:
        raise ImproperlyConfigured(
            "Revocation tasks need Django 6.0+ or the django-tasks backport: "
            'pip install "django-twitter-oauth[tasks]".'
        ) from exc

__all__ = ["RevocationIncomplete", "enqueue_revocation", "revoke_tokens"]


class RevocationIncomplete(Exception):  # a task outcome, not a bug: no "Error" suffix
    """Raised by the task when some tokens failed or were left, so the backend records
    the task as failed; re-running the command does what is left."""


@task()  # type: ignore[untyped-decorator,unused-ignore]
def revoke_tokens(
    token_ids: list[int], discard: bool = False, reason: str = "", workers: int = 8
) -> dict[str, Any]:
    """Revoke (or discard) the tokens with these ids that still exist."""
    tokens = revocation.iterate(
        with_users(AccessToken.objects.filter(pk__in=token_ids)),
        max(len(token_ids), 1),
    )
    if discard:
        report = revocation.discard(tokens, reason=reason or "discarded by a task")
    else:
        report = revocation.revoke(tokens, reason=reason or "revoked by a task", workers=workers)
    summary = {
        "revoked": report.revoked,
        "already_invalid": report.already_invalid,
        "discarded": report.discarded,
        "failed": [
            {"twitter_user_id": f.twitter_user_id, "reason": f.reason} for f in report.failed
        ],
        "not_attempted": report.not_attempted,
    }
    if not report.ok:
        raise RevocationIncomplete(summary)
    return summary


def enqueue_revocation(
    queryset: QuerySet[AccessToken],
    *,
    batch_size: int,
    discard: bool = False,
    reason: str = "",
    workers: int = 8,
) -> list[Any]:
    """Enqueue one :data:`revoke_tokens` task per batch of ids; return their results.

    ``workers`` bounds the concurrent calls to Twitter within each task; the tasks
    themselves run as the backend's workers allow.
    """
    return [
        revoke_tokens.enqueue(ids, discard, reason, workers)
        for ids in revocation.id_batches(queryset, batch_size)
    ]
