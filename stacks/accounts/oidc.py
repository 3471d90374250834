"""Single sign-on through the organisation's OpenID Connect provider
(mozilla-django-oidc), configured from the environment (settings PANEL_OIDC_*).

The endpoints come from the issuer's discovery document. At each login the
groups claim is mapped to roles: PANEL_OIDC_ROLE_MAP="ops=operator:app,demo;
everyone=viewer:*" makes members of `ops` operators of app and demo, and of
`everyone` viewers of every stack. The roles given at the previous login are
replaced; a local account (with a password: the break-glass admin) never logs
in this way."""
import logging

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from stacks.accounts import audit
from stacks.accounts.roles import OPERATORS, VIEWERS, ensure_roles
from stacks.models import OPERATOR, VIEWER, Stack, StackRole
from stacks.seams import oidc

log = logging.getLogger("stacks.accounts.oidc")
_DISCOVERED = {"OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
               "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
               "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
               "OIDC_OP_JWKS_ENDPOINT": "jwks_uri"}
_RANK = {VIEWER: 1, OPERATOR: 2}


def oidc_setting(attr, *args):
    """mozilla-django-oidc's settings, with the endpoints from discovery unless set."""
    if attr in _DISCOVERED and not getattr(settings, attr, None):
        if not settings.PANEL_OIDC_ISSUER:
            raise ImproperlyConfigured("Single sign-on is off: set PANEL_OIDC_ISSUER.")
        value = oidc.discovery(settings.PANEL_OIDC_ISSUER).get(_DISCOVERED[attr])
        if value:
            return value
    return import_from_settings(attr, *args)


def parse_role_map(text):
    """"ops=operator:app,demo;everyone=viewer:*" → {"ops": ("operator", ["app", "demo"]),
    "everyone": ("viewer", ["*"])}. Raises ValueError naming the bad entry."""
    mapping = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        group, _, rest = entry.partition("=")
        role, _, stacks = rest.partition(":")
        role, stacks = role.strip(), [s.strip() for s in stacks.split(",") if s.strip()]
        if not group.strip() or role not in _RANK or not stacks:
            raise ValueError(f"PANEL_OIDC_ROLE_MAP: {entry!r} is not GROUP=viewer|operator:STACK,… (or *)")
        mapping[group.strip()] = (role, stacks)
    return mapping


def roles_for(groups, mapping):
    """(global role or None, {stack slug: role}) for these groups."""
    global_role, per_stack = None, {}
    for group in groups:
        role, stacks = mapping.get(group, (None, []))
        for slug in stacks:
            if slug == "*":
                if global_role is None or _RANK[role] > _RANK[global_role]:
                    global_role = role
            elif _RANK[role] > _RANK.get(per_stack.get(slug), 0):
                per_stack[slug] = role
    return global_role, per_stack


@transaction.atomic
def apply_roles(user, groups):
    """Give the user the roles its groups map to, replacing those of its last login."""
    ensure_roles()
    global_role, per_stack = roles_for(groups, parse_role_map(settings.PANEL_OIDC_ROLE_MAP))
    user.groups.remove(*Group.objects.filter(name__in=[VIEWERS, OPERATORS]))
    if global_role:
        user.groups.add(Group.objects.get(name=OPERATORS if global_role == OPERATOR else VIEWERS))
    StackRole.objects.filter(user=user, source="oidc").delete()
    stacks = {s.slug: s for s in Stack.objects.filter(slug__in=per_stack)}
    for slug, role in per_stack.items():
        if slug in stacks:
            StackRole.objects.update_or_create(stack=stacks[slug], user=user, defaults={"role": role, "source": "oidc"})
    staff = global_role == OPERATOR or OPERATOR in per_stack.values()
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])
    audit.record("sso roles", user.get_username(), user=user,
                 detail=f"groups {sorted(groups)}: global {global_role or 'none'}, "
                        f"per stack {per_stack or 'none'}")


class PanelOIDCBackend(OIDCAuthenticationBackend):
    get_settings = staticmethod(oidc_setting)

    def get_userinfo(self, access_token, id_token, payload):
        # The verified ID token's claims, completed by the userinfo endpoint.
        return {**(payload or {}), **super().get_userinfo(access_token, id_token, payload)}

    def verify_claims(self, claims):
        return bool(claims.get("sub"))

    @staticmethod
    def username_of(claims):
        return str(claims.get(settings.PANEL_OIDC_USERNAME_CLAIM) or claims["sub"])[:150]

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=self.username_of(claims))

    def groups_of(self, claims):
        groups = claims.get(settings.PANEL_OIDC_GROUPS_CLAIM) or []
        return [groups] if isinstance(groups, str) else [str(g) for g in groups]

    def create_user(self, claims):
        user = self.UserModel.objects.create_user(self.username_of(claims), email=claims.get("email", ""))
        user.set_unusable_password()
        user.save()
        apply_roles(user, self.groups_of(claims))
        return user

    def update_user(self, user, claims):
        if user.has_usable_password():
            log.warning("Single sign-on refused for %s: a local account of that name exists", user.username)
            raise PermissionDenied("A local account has this name: it logs in with its password.")
        apply_roles(user, self.groups_of(claims))
        return user
