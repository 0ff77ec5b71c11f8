from django.contrib.auth import views as auth_views
from django.urls import path

from hepatrial.web.trial import prescreen_views, record_views, sae_pdf, two_factor_views, views
from hepatrial.web.trial.forms import LockoutAuthenticationForm
from hepatrial.web.trial.safety_labs import safety_labs

FORM = "subjects/<str:subject_id>/visits/<slug:visit_id>/<slug:form_id>/"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="trial/login.html", authentication_form=LockoutAuthenticationForm),
         name="login"),
    path("login/code/", two_factor_views.two_factor_verify, name="two_factor_verify"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("two-factor/", two_factor_views.two_factor_setup, name="two_factor_setup"),
    path("password/", views.PasswordChange.as_view(), name="password_change"),
    path("", views.home, name="home"),
    path("screenings/new/", views.screening_new, name="screening_new"),
    path("prescreen/", prescreen_views.prescreen_page, name="prescreen"),
    path("prescreen/<int:pk>/", prescreen_views.prescreen_run, name="prescreen_run"),
    path("prescreen/<int:pk>/progress.json", prescreen_views.prescreen_progress, name="prescreen_progress"),
    path("screenings/<int:pk>/", views.screening_detail, name="screening_detail"),
    path("screenings/<int:pk>/decide/", views.screening_decide, name="screening_decide"),
    path("screenings/<int:pk>/consent/", views.screening_consent, name="screening_consent"),
    path("screenings/<int:pk>/enroll/", views.screening_enroll, name="screening_enroll"),
    path("subjects/<str:subject_id>/", views.subject_detail, name="subject_detail"),
    path("subjects/<str:subject_id>/withdraw/", views.subject_withdraw, name="subject_withdraw"),
    path("subjects/<str:subject_id>/randomize/", views.subject_randomize, name="subject_randomize"),
    path("subjects/<str:subject_id>/sign/", record_views.subject_sign, name="subject_sign"),
    path("subjects/<str:subject_id>/lock/", record_views.subject_lock, name="subject_lock"),
    path("locks/", record_views.lock_list, name="lock_list"),
    path("locks/<int:pk>/unlock/", record_views.lock_unlock, name="lock_unlock"),
    path("subjects/<str:subject_id>/deviations/new/", views.deviation_new, name="deviation_new"),
    path("deviations/", views.deviation_list, name="deviation_list"),
    path("allocation/", views.allocation_list, name="allocation_list"),
    path(FORM, views.form_entry, name="form_entry"),
    path(FORM + "<int:sequence>/", views.form_entry, name="form_entry_seq"),
    path(FORM + "<int:sequence>/sae-report/", views.sae_report, name="sae_report"),
    path(FORM + "<int:sequence>/sae-report/<int:report_pk>.pdf", sae_pdf.sae_report_pdf, name="sae_report_pdf"),
    path("safety/", views.safety_dashboard, name="safety_dashboard"),
    path("safety/labs/<str:subject_id>/", safety_labs, name="safety_labs"),
    path("subjects/<str:subject_id>/ae-proposals/<int:pk>/dismiss/", views.ae_proposal_dismiss, name="ae_proposal_dismiss"),
    path("reference-ranges/", views.reference_ranges, name="reference_ranges"),
    path("analysis/", views.analysis_page, name="analysis"),
    path("analysis/adam.zip", views.adam_zip, name="adam_zip"),
    path("analysis/report/", views.analysis_report, name="analysis_report"),
    path("safety/trips/<int:pk>/decision/", views.dsmb_decision, name="dsmb_decision"),
    path(FORM + "query/", views.form_raise_query, name="form_raise_query"),
    path(FORM + "<int:sequence>/query/", views.form_raise_query, name="form_raise_query_seq"),
    path("queries/", views.query_list, name="query_list"),
    path("queries/<int:pk>/", views.query_detail, name="query_detail"),
    path("audit/", views.audit_list, name="audit_list"),
    path("audit.csv", views.audit_csv, name="audit_csv"),
]
