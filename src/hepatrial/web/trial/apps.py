from django.apps import AppConfig


class TrialConfig(AppConfig):
    name = "hepatrial.web.trial"
    label = "trial"
    verbose_name = "Trial"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import (
            user_logged_in,
            user_logged_out,
            user_login_failed,
        )

        from django.db.backends.signals import connection_created

        from hepatrial.services.accounts import record_access
        from hepatrial.web.trial import (
            checks,  # noqa: F401  (registers the system checks)
        )

        def logged_in(sender, request, user, **kwargs):
            from hepatrial.services.two_factor import needs_two_factor

            detail = "password only: the authenticator's code is still to come" if needs_two_factor(user) else ""
            record_access("login", username=user.get_username(), user=user, detail=detail)

        def logged_out(sender, request, user, **kwargs):
            if user is not None:
                record_access("logout", username=user.get_username(), user=user)

        def login_failed(sender, credentials, request=None, **kwargs):
            record_access("login_failed", username=str(credentials.get("username", "")))

        def chain_first_on_postgresql(sender, connection, **kwargs):
            from hepatrial.services.audit import chain_first

            if connection.vendor == "postgresql" and chain_first not in connection.execute_wrappers:
                connection.execute_wrappers.append(chain_first)

        connection_created.connect(chain_first_on_postgresql, weak=False, dispatch_uid="hepatrial-chain-first")
        user_logged_in.connect(logged_in, weak=False, dispatch_uid="hepatrial-audit-login")
        user_logged_out.connect(logged_out, weak=False, dispatch_uid="hepatrial-audit-logout")
        user_login_failed.connect(login_failed, weak=False, dispatch_uid="hepatrial-audit-login-failed")
