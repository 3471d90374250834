"""The overview: every stack, its state, health, firing alerts, last deploy and links."""
from django.db.models import Count, F, OuterRef, Prefetch, Q, Subquery

from stacks.accounts.access import sees_all, unlimited, visible_stacks
from stacks.models import Alert, Deployment, Engine, Service, Stack
from stacks.monitoring import updates
from stacks.monitoring.health import unmanaged
from stacks.queues import served_queues
from stacks.views import render_page


def stacks_with_state(stacks=None):
    last = Deployment.objects.filter(stack=OuterRef("pk")).order_by("-id")
    shipped = Deployment.objects.filter(stack=OuterRef("pk"), action="deploy", status=Deployment.SUCCEEDED).order_by("-id")
    firing = (Alert.objects.filter(stack=OuterRef("pk"), status="firing").order_by()
              .values("stack").annotate(n=Count("id")).values("n"))
    # Only what a UI link needs: a service's other JSON columns cost a decode
    # each, per row of a page that lists every stack.
    linked = Prefetch("services", to_attr="linked_services",
                      queryset=Service.objects.exclude(ui_name="").order_by("order", "name")
                      .only("stack_id", "name", "order", "ui_name", "ui_port", "ui_path", "ports"))
    return ((Stack.objects.all() if stacks is None else stacks).order_by("slug").select_related("engine")
            .annotate(service_count=Count("services", distinct=True),
                      running_count=Count("services", filter=Q(services__health__state="running"), distinct=True),
                      healthy_count=Count("services", distinct=True, filter=Q(services__health__state="running")
                                          & ~Q(services__health__docker_health__in=["unhealthy", "starting"])
                                          & ~Q(services__health__probe_ok=False)),
                      firing_count=Subquery(firing),
                      last_action=Subquery(last.values("action")[:1]),
                      last_status=Subquery(last.values("status")[:1]),
                      last_at=Subquery(last.values("created")[:1]),
                      last_id=Subquery(last.values("id")[:1]),
                      # "changes not deployed": the hash the rows rendered to at the last
                      # admin save or watch (stacks.notifications.drift) against the last deploy's.
                      deployed_hash=Subquery(shipped.values("bundle_hash")[:1]),
                      rendered_hash=F("watch__rendered_hash"), drift=F("watch__drift"))
            .prefetch_related(linked))


def unmanaged_projects():
    """Compose projects running on the engines that no stack manages, as each
    engine's poller last saw them (stacks.monitoring.health.note_unmanaged)."""
    return unmanaged(list(Engine.objects.all()))


def overview(request):
    stacks = list(stacks_with_state(visible_stacks(request.user)))
    served = served_queues()  # one cached answer per page, however many engines
    with_updates = updates.available_by_stack(stacks)
    for s in stacks:
        s.engine_served = s.engine.queue in served
        s.updates = with_updates.get(s.pk, [])
    polling = request.htmx and not request.htmx.boosted  # the 5s refresh needs only the rows
    can_adopt = request.user.has_perm("stacks.add_stack") and unlimited(request.user)
    context = {"stacks": stacks, "unmanaged": [] if polling or not can_adopt else unmanaged_projects(),
               "can_adopt": can_adopt, "no_role": not stacks and not sees_all(request.user)}
    return render_page(request, "stacks/overview.html", context, partial="stack-rows")
