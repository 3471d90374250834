"""`manage.py alerts list [--status firing|resolved] [--json]`;
`manage.py alerts route SLUG LABEL=VALUE…`: who gets an alert (amtool config routes test)."""
import json

from django.core.management.base import BaseCommand, CommandError

from stacks.models import Alert, Stack
from stacks.notifications.routes import NoRoutes, parse_labels, reach


class Command(BaseCommand):
    help = "List stored alerts."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        p = sub.add_parser("list")
        p.add_argument("--status", choices=["firing", "resolved"])
        p.add_argument("--json", action="store_true")
        p.add_argument("--limit", type=int, default=200)
        r = sub.add_parser("route", help="The receivers a label set reaches in the stack's deployed alertmanager.yml.")
        r.add_argument("slug")
        r.add_argument("labels", nargs="+", metavar="LABEL=VALUE")

    def handle(self, *args, verb, status=None, json=False, limit=200, **opts):
        if verb == "route":
            return self.route(opts["slug"], opts["labels"])
        alerts = Alert.objects.select_related("stack", "service").order_by("-starts_at", "-id")
        if status:
            alerts = alerts.filter(status=status)
        alerts = list(alerts[:limit])
        if json:
            self.stdout.write(_json.dumps([{
                "name": a.name, "status": a.status, "severity": a.severity, "fingerprint": a.fingerprint,
                "starts_at": a.starts_at.isoformat(), "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
                "stack": a.stack.slug if a.stack else None, "service": a.service.name if a.service else None,
                "labels": a.labels, "annotations": a.annotations,
                "acknowledged_by": a.acknowledged_by.username if a.acknowledged_by else None,
            } for a in alerts], indent=2))
            return
        for a in alerts:
            where = f"{a.stack.slug if a.stack else '-'}/{a.service.name if a.service else '-'}"
            self.stdout.write(f"{a.starts_at:%Y-%m-%d %H:%M:%S} {a.status:<9} {a.severity or '-':<9} "
                              f"{a.name:<28} {where:<24} {a.summary}")


    def route(self, slug, words):
        try:
            found = reach(Stack.named(slug), parse_labels(words))
        except Stack.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        except NoRoutes as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(found.tree)
        self.stdout.write(f"Receivers: {', '.join(found.receivers)}")


_json = json
