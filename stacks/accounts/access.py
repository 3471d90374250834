"""The one permission check: which stacks a user (or an API token) may see and
operate. Every page, the admin, the API and the commands ask here.

A global role covers every stack: the `viewers` group (the stacks.view_stack
permission) sees all, the `operators` group (stacks.deploy_stack) operates all,
as does a superuser. Below that, StackRole rows give a user, or a team (a Django
group) the user is in, viewer or operator on chosen stacks. A user with neither
sees nothing. A token never does more than its user: it may be read-only and
limited to some stacks."""
from django.db.models import Q

from stacks.models import OPERATOR, Alert, Stack, StackRole

VIEW_ALL, OPERATE_ALL = "stacks.view_stack", "stacks.deploy_stack"


def _active(user):
    return user is not None and user.is_authenticated and user.is_active


def operates_all(user):
    return _active(user) and user.has_perm(OPERATE_ALL)


def sees_all(user):
    return _active(user) and (user.has_perm(VIEW_ALL) or user.has_perm(OPERATE_ALL))


def _roles(user):
    return StackRole.objects.filter(Q(user=user) | Q(group__in=user.groups.all()))


def _limited(qs, token):
    if token is not None and token.stacks.exists():
        qs = qs.filter(pk__in=token.stacks.values("pk"))
    return qs


def visible_stacks(user, token=None):
    """The stacks this user (through this token, if given) may see."""
    if not _active(user):
        return Stack.objects.none()
    qs = Stack.objects.all() if sees_all(user) else Stack.objects.filter(pk__in=_roles(user).values("stack"))
    return _limited(qs, token)


def operable_stacks(user, token=None):
    """The stacks this user may deploy, stop, edit and whose alerts it may silence."""
    if not _active(user) or (token is not None and not token.write):
        return Stack.objects.none()
    if operates_all(user):
        qs = Stack.objects.all()
    else:
        qs = Stack.objects.filter(pk__in=_roles(user).filter(role=OPERATOR).values("stack"))
    return _limited(qs, token)


def can_view(user, stack, token=None):
    return stack is not None and visible_stacks(user, token).filter(pk=stack.pk).exists()


def can_operate(user, stack, token=None):
    return stack is not None and operable_stacks(user, token).filter(pk=stack.pk).exists()


def can_operate_any(user, token=None):
    """Shows an operator's buttons and menus (each action still checks its stack)."""
    return operable_stacks(user, token).exists()


def unlimited(user, token=None):
    """Everything, even what belongs to no stack (alerts of no stack, adopting
    a project that is not a stack yet)?"""
    return sees_all(user) and (token is None or not token.stacks.exists())


def visible_alerts(user, token=None, qs=None):
    """Alerts of the stacks the user may see; alerts of no stack only for a global role."""
    qs = Alert.objects.all() if qs is None else qs
    if unlimited(user, token):
        return qs
    return qs.filter(stack__in=visible_stacks(user, token))


def can_view_alert(user, alert, token=None):
    return can_view(user, alert.stack, token) if alert.stack_id else unlimited(user, token)


def can_silence(user, alert, token=None):
    """Silence, expire and acknowledge: an operator of the alert's stack (any
    global operator for an alert of no stack)."""
    if alert.stack_id:
        return can_operate(user, alert.stack, token)
    return operates_all(user) and (token is None or (token.write and not token.stacks.exists()))


def role_of(user, stack):
    """"operator", "viewer" or "" (for pages that say so)."""
    if can_operate(user, stack):
        return "operator"
    return "viewer" if can_view(user, stack) else ""
