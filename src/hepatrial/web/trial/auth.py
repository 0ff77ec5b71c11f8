"""The authentication backend: Django's, loading with each request's user the staff
profile and its sites, which nearly every page asks for (two queries instead of one for
the user and one each time the role or the sites are read)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import prefetch_related_objects


class StaffBackend(ModelBackend):
    def get_user(self, user_id):
        user = get_user_model()._default_manager.select_related("staff").filter(pk=user_id).first()
        if user is None or not self.user_can_authenticate(user):
            return None
        if (profile := getattr(user, "staff", None)) is not None:
            prefetch_related_objects([profile], "sites")
        return user
