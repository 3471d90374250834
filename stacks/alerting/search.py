"""Alert text search. PostgreSQL: full-text search on the generated, GIN-indexed
`search_vector` column (migration 0005), every word a prefix, results ranked.
SQLite: a substring scan of `search_text`, as before.

Ranking orders the most recent RANK_WINDOW matches, not every match in the
history: the cost of a search stays bounded however many old alerts match."""
import re

from django.db import connection
from django.db.models import BooleanField, Expression, FloatField

from stacks.accounts.access import visible_alerts
from stacks.models import Stack

RANK_WINDOW = 500
_WORD = re.compile(r"[^\W_]+")  # what the column keeps: runs of letters and digits


def words(text):
    return _WORD.findall(text.lower())


def tsquery(text):
    """'high cpu 91' → 'high:* & cpu:* & 91:*' (words are letters and digits only,
    so nothing needs quoting)."""
    return " & ".join(f"{w}:*" for w in words(text))


class _OnVector(Expression):
    """SQL over the alert table's search_vector column (unknown to Django's
    models), written against whatever alias the table has in the query: the
    main query or a subquery (U0)."""

    template = ""

    def __init__(self, query, output_field):
        super().__init__(output_field=output_field)
        self.query = query

    def as_sql(self, compiler, connection):
        column = f"{compiler.quote_name_unless_alias(compiler.query.base_table)}.search_vector"
        return self.template.format(column=column), [self.query]


class _Match(_OnVector):
    template = "{column} @@ to_tsquery('simple', %s)"


class _Rank(_OnVector):
    template = "ts_rank({column}, to_tsquery('simple', %s))"


def _match(query):
    return _Match(query, BooleanField())


def _rank(query):
    return _Rank(query, FloatField())


def full_text():
    return connection.vendor == "postgresql"


def matching(qs, text):
    """The alerts of `qs` that match `text` (unordered)."""
    if not full_text():
        return qs.filter(search_text__contains=text.lower().strip())
    query = tsquery(text)
    if not query:
        return qs
    return qs.filter(_match(query))


def ranked(qs, text, limit):
    """Up to `limit` matches, best first, chosen among the most recent RANK_WINDOW
    matches; each alert carries its `rank`."""
    if not full_text() or not tsquery(text):
        return matching(qs, text).order_by("-starts_at", "-id")[:limit]
    query = tsquery(text)
    recent = matching(qs, text).order_by("-starts_at", "-id").values("id")[:RANK_WINDOW]
    return (qs.model.objects.filter(id__in=recent).annotate(rank=_rank(query))
            .order_by("-rank", "-starts_at", "-id")[:limit])


def filtered(params, user, token=None):
    """Alerts matching the alerts page's filters (status, severity, stack), of the
    stacks the user (through the token) may see. The page and the API share it.
    Each filter has an index that reads in starts_at order (Alert.Meta.indexes)."""
    qs = visible_alerts(user, token)
    if params.get("status") in ("firing", "resolved"):
        qs = qs.filter(status=params["status"])
    if params.get("severity"):
        qs = qs.filter(severity=params["severity"])
    if params.get("stack"):
        stack_id = Stack.objects.filter(slug=params["stack"]).values_list("id", flat=True).first()
        qs = qs.filter(stack_id=stack_id) if stack_id else qs.none()
    return qs
