"""The two roles, as groups: viewers see everything; operators also deploy, stop,
restart, silence, acknowledge and edit."""
from django.contrib.auth.models import Group, Permission

VIEWERS, OPERATORS = "viewers", "operators"
EDITABLE = ["stack", "service", "network", "volume", "stackfile", "scrapejob", "alertrule", "receiver", "route",
            "inhibitrule", "grafanadatasource", "grafanadashboard", "logroute"]


def ensure_roles(**kwargs):
    viewers, _ = Group.objects.get_or_create(name=VIEWERS)
    operators, _ = Group.objects.get_or_create(name=OPERATORS)
    view = Permission.objects.filter(content_type__app_label="stacks", codename__startswith="view_")
    viewers.permissions.set(view)
    codenames = ["deploy_stack", "silence_alert"] + [f"{verb}_{model}" for model in EDITABLE
                                                     for verb in ("add", "change", "delete")]
    operators.permissions.set(list(view) + list(Permission.objects.filter(content_type__app_label="stacks",
                                                                          codename__in=codenames)))


def may_operate(user, stack=None):
    """Whether `user` may deploy, stop, delete or edit `stack`: the one check the
    pages ask (per-stack roles can answer here without touching the views)."""
    return user.has_perm("stacks.deploy_stack")
