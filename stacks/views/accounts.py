"""The login pages (Django's auth views, at /accounts/). Password reset is
offered only when the panel can send mail (PANEL_PASSWORD_RESET, on when
EMAIL_HOST is set): otherwise its pages are 404 and the login page has no link."""
from functools import wraps

from django.conf import settings
from django.contrib.auth import views
from django.http import Http404
from django.urls import path


def password_reset_offered():
    return bool(settings.PANEL_PASSWORD_RESET)


def needs_mail(view):
    @wraps(view)  # keeps login_required = False of Django's views
    def offered_only_with_mail(request, *args, **kwargs):
        if not password_reset_offered():
            raise Http404("Password reset is not offered: this panel sends no mail.")
        return view(request, *args, **kwargs)
    return offered_only_with_mail


urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password_change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", needs_mail(views.PasswordResetView.as_view()), name="password_reset"),
    path("password_reset/done/", needs_mail(views.PasswordResetDoneView.as_view()), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", needs_mail(views.PasswordResetConfirmView.as_view()),
         name="password_reset_confirm"),
    path("reset/done/", needs_mail(views.PasswordResetCompleteView.as_view()), name="password_reset_complete"),
]
