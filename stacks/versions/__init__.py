"""Versions of a stack's definition: every change (admin, import page, command
line, rollback, restore, Git) is recorded as a snapshot of all its rows, with
who, when, where from and the rendered files, so that it can be diffed and
restored exactly.

    snapshot   the definition as one JSON document; restore it; rows changed
    record     record a version when the definition changed; restore one"""
import difflib

from django.db import transaction

from stacks.models import Stack, StackVersion
from stacks.render import render_bundle
from stacks.versions import snapshot


def record(stack, source, user=None, note=""):
    """The version of `stack`'s definition now: a new one when it differs from
    the latest, else the latest (an unchanged save is no new version)."""
    doc = snapshot.take(stack)
    digest = snapshot.digest(doc)
    with transaction.atomic():
        Stack.objects.select_for_update().filter(pk=stack.pk).first()
        latest = stack.versions.order_by("-number").first()
        if latest is not None and latest.digest == digest and source not in (StackVersion.ROLLBACK,
                                                                              StackVersion.RESTORE):
            return latest
        try:
            files = render_bundle(stack).masked_files()
        except Exception:  # noqa: BLE001 — a definition that does not render is still a version
            files = {}
        return StackVersion.objects.create(
            stack=stack, number=(latest.number + 1) if latest else 1, author=user, source=source,
            note=note[:200], definition=doc, digest=digest, files=files)


def current(stack, source=StackVersion.DEPLOY, user=None):
    """The version the definition is at now (recorded if no version holds it yet:
    a change made before versions existed, or by hand in the database)."""
    return record(stack, source, user=user, note="" if source != StackVersion.DEPLOY else "first seen by a deploy")


def restore(stack, version, source, user=None, note=""):
    """Put `version`'s rows back and record that as a new version."""
    with transaction.atomic():
        snapshot.restore(stack, version.definition)
        return record(stack, source, user=user, note=note or f"restore of v{version.number}")


def diff(version, against=None):
    """(rows changed, [{"path", "lines"}] of the rendered files) from `against`
    (by default the version before) to `version`."""
    against = version.previous() if against is None else against
    old_doc, old_files = (against.definition, against.files) if against else ({}, {})
    rows = snapshot.row_changes(old_doc, version.definition)
    files = []
    for path in sorted(set(old_files) | set(version.files)):
        a, b = old_files.get(path, ""), version.files.get(path, "")
        if a != b:
            files.append({"path": path, "lines": list(difflib.unified_diff(
                a.splitlines(), b.splitlines(), f"a/{path}", f"b/{path}", lineterm="", n=2))})
    return rows, files
