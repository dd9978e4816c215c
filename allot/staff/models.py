"""Staff roles. A clerk is bound to exactly one outlet; an operator to the campaigns they run; committee staff to
one neighbourhood committee. Also the login-failure state (lockout backoff) and the sessions of staff accounts
(so that disabling an account ends them)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class StaffProfile(models.Model):
    class Role(models.TextChoices):
        OPERATOR = "operator", _("campaign operator")
        NOTARY = "notary", _("notary")
        CLERK = "clerk", _("pharmacy clerk")
        COMMITTEE = "committee", _("committee staff")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    role = models.CharField(max_length=10, choices=Role.choices)
    outlet = models.ForeignKey("places.Outlet", null=True, blank=True, on_delete=models.PROTECT, related_name="clerks")
    campaigns = models.ManyToManyField("campaigns.Campaign", blank=True, related_name="staff")
    committee = models.ForeignKey("places.Committee", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="staff", help_text=_("Committee staff: the one committee they serve."))

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(role="clerk") | Q(outlet__isnull=False), name="clerk_has_outlet"),
            models.CheckConstraint(condition=~Q(role="committee") | Q(committee__isnull=False),
                                   name="committee_staff_has_committee"),
        ]
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class LoginFailures(models.Model):
    """Failed password attempts for one username (whether or not such an account exists, so that the lockout
    tells nothing about which usernames are real). Deleted on a successful login."""

    username = models.CharField(max_length=150, primary_key=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("login failures")
        verbose_name_plural = _("login failures")

    def __str__(self) -> str:
        return f"{self.username}: {self.failures}"


class StaffSession(models.Model):
    """A session a staff user logged in with; ended (deleted from the session store) when the account is
    disabled."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.session_key[:6]}…"
