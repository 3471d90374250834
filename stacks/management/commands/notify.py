"""`manage.py notify add NAME URL [--events KIND…] [--stack SLUG]`, `notify list`,
`notify test NAME`, `notify remove NAME`: where the panel's own events go,
besides each stack's Alertmanager (any Apprise URL: json://, slack://, mailto://…)."""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Q
from django.utils import timezone

from stacks.models import Destination, Event, EventDelivery, Stack
from stacks.seams import notify


class Command(BaseCommand):
    help = "Notification URLs for the panel's events: add, list, test, remove."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        kinds = [k for k, _ in Event.KINDS]
        p = sub.add_parser("add", help="Send events to an Apprise URL.")
        p.add_argument("name")
        p.add_argument("url")
        p.add_argument("--events", nargs="+", choices=kinds, metavar="KIND",
                       help=f"Only these kinds ({', '.join(kinds)}); default: all but deploy-succeeded.")
        p.add_argument("--stack", help="Only this stack's events.")
        sub.add_parser("list", help="Destinations, what they get, and their last delivery.")
        p = sub.add_parser("test", help="Send a test notification now.")
        p.add_argument("name")
        p = sub.add_parser("remove")
        p.add_argument("name")

    def handle(self, *args, verb, **opts):
        getattr(self, "do_" + verb)(**opts)

    def _named(self, name):
        try:
            return Destination.objects.get(name=name)
        except Destination.DoesNotExist:
            known = ", ".join(Destination.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"No destination {name!r} (destinations: {known}).") from None

    def do_add(self, name, url, events=None, stack=None, **opts):
        if not notify.valid(url):
            raise CommandError("Apprise cannot read this URL: see https://github.com/caronc/apprise/wiki for "
                               "the forms (json://host/path, slack://…, mailto://…).")
        try:
            target = Stack.named(stack) if stack else None
        except Stack.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        dest = Destination(name=name, url=url, events=events or [], stack=target)
        try:
            dest.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        dest.save()
        what = ", ".join(events) if events else "all events but succeeded deploys"
        self.stdout.write(f"Added {name} ({dest.shown_url}): {what}{f' of {target.slug}' if target else ''}.")

    def do_list(self, **opts):
        counts = (Destination.objects.annotate(
            pending=Count("deliveries", filter=Q(deliveries__status=EventDelivery.PENDING)),
            failed=Count("deliveries", filter=Q(deliveries__status=EventDelivery.FAILED))).select_related("stack"))
        for d in counts:
            if d.last_attempt is None:
                last = "no delivery yet"
            elif d.last_ok:
                last = f"last delivery ok {d.last_sent:%Y-%m-%d %H:%M:%S}"
            else:
                last = f"last delivery FAILED {d.last_attempt:%Y-%m-%d %H:%M:%S}: {d.last_error}"
            what = ",".join(d.events) or "default"
            self.stdout.write(f"{d.name:<16} {d.shown_url:<28} {d.stack.slug if d.stack else '*':<12} {what:<20} "
                              f"{'' if d.enabled else 'disabled '}{d.pending} pending {d.failed} failed  {last}")
        for stack in Stack.objects.filter(services__role="alertmanager").distinct():
            sent = (EventDelivery.objects.filter(event__stack=stack, destination__isnull=True)
                    .exclude(status=EventDelivery.PENDING).order_by("-id").first())
            last = (f"last delivery {sent.status} {(sent.sent or sent.next_try):%Y-%m-%d %H:%M:%S}"
                    + (f": {sent.error}" if sent.error else "")) if sent else "no delivery yet"
            self.stdout.write(f"{'(alertmanager)':<16} {stack.slug + ' Alertmanager':<28} {stack.slug:<12} "
                              f"{'default':<20} {last}")

    def do_test(self, name, **opts):
        dest = self._named(name)
        now = timezone.now()
        try:
            notify.send(dest.url, "Test from the control panel", f"A test notification to {dest.name}.")
        except notify.NotifyError as exc:
            Destination.objects.filter(pk=dest.pk).update(last_attempt=now, last_ok=False, last_error=str(exc))
            raise CommandError(f"{name}: not delivered: {exc}") from None
        Destination.objects.filter(pk=dest.pk).update(last_attempt=now, last_ok=True, last_error="", last_sent=now)
        self.stdout.write(f"{name}: delivered.")

    def do_remove(self, name, **opts):
        self._named(name).delete()
        self.stdout.write(f"Removed {name}.")
