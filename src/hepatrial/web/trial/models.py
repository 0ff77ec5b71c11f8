"""What the trial stores. Writes go through ``hepatrial.services`` (one
transaction each, with the audit rows inside it); views never save models.

Identifying details (name, hospital record number, phone) live in
:class:`Identity`, apart from trial data, and only the subject's own site
reads them. The screening log (:class:`Screening`) is anonymous.
"""

from __future__ import annotations

from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


def _valid_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(_("%(tz)s is not a time zone name"), params={"tz": value})


class Site(models.Model):
    code = models.CharField(_("code"), max_length=16, unique=True, help_text=_("Prefix of subject ids, e.g. SYSU3"))
    name = models.CharField(_("name"), max_length=200)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC", validators=[_valid_time_zone])

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Role(models.TextChoices):
    COORDINATOR = "coordinator", _("Coordinator")
    INVESTIGATOR = "investigator", _("Investigator")
    DATA_MANAGER = "data_manager", _("Data manager")
    MONITOR = "monitor", _("Monitor")
    STATISTICIAN = "statistician", _("Statistician")
    ADMIN = "admin", _("Administrator")
    #: a member of the Data and Safety Monitoring Board: reads every site's safety data (no identities), records its decisions
    DSMB = "dsmb", _("DSMB member")


#: Roles that see every site (the others see the sites in their profile).
ALL_SITE_ROLES = {Role.DATA_MANAGER, Role.STATISTICIAN, Role.ADMIN, Role.DSMB}


class StaffProfile(models.Model):
    """A user's role and sites (own sites; for a monitor, the assigned sites)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="staff")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    sites = models.ManyToManyField(Site, blank=True, related_name="staff")

    def __str__(self) -> str:
        return f"{self.user.username} ({self.role})"


class Screening(models.Model):
    """One screening of one candidate: the anonymous log row, its data and verdict."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="screenings")
    protocol_id = models.CharField(max_length=40)
    screened_at = models.DateTimeField(_("entered at"))
    screened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assessed_at = models.DateTimeField(_("assessed at"))
    age = models.PositiveSmallIntegerField(null=True)
    sex = models.CharField(max_length=8, blank=True)
    candidate = models.JSONField(help_text="The candidate file (no identifying data).")
    result = models.JSONField(help_text="The core screening result: verdict, criteria, scores.")
    verdict = models.CharField(max_length=16)
    failing = models.JSONField(default=list, help_text="Ids of the excluding criteria.")

    class Meta:
        ordering = ["-screened_at"]

    def __str__(self) -> str:
        return f"screening {self.pk} ({self.site.code}, {self.verdict})"


class Identity(models.Model):
    """Identifying details of a screened person: read by their own site only."""

    screening = models.OneToOneField(Screening, on_delete=models.PROTECT, related_name="identity")
    name = models.CharField(_("name"), max_length=200, blank=True)
    hospital_record_number = models.CharField(_("hospital record number"), max_length=64, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)


class EligibilityDecision(models.Model):
    class Decision(models.TextChoices):
        CONFIRMED = "confirmed", _("Confirmed eligible")
        OVERRIDDEN = "overridden", _("Eligible by investigator override")
        NOT_ELIGIBLE = "not_eligible", _("Not eligible")

    screening = models.OneToOneField(Screening, on_delete=models.PROTECT, related_name="decision")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()

    @property
    def eligible(self) -> bool:
        return self.decision in (self.Decision.CONFIRMED, self.Decision.OVERRIDDEN)


class Consent(models.Model):
    class Scope(models.TextChoices):
        NO_FURTHER_TREATMENT = "no_further_treatment", _("No further treatment (data collection continues)")
        NO_FURTHER_DATA = "no_further_data", _("No further data and no further treatment")

    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="consents")
    version = models.CharField(_("document version"), max_length=20)
    obtained_at = models.DateTimeField(_("obtained at"))
    obtained_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_scope = models.CharField(max_length=24, choices=Scope.choices, blank=True)

    class Meta:
        ordering = ["-obtained_at"]


class Subject(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="subjects")
    screening = models.OneToOneField(Screening, on_delete=models.PROTECT, related_name="subject")
    number = models.PositiveIntegerField()
    subject_id = models.CharField(_("subject id"), max_length=32, unique=True)
    enrolled_at = models.DateTimeField()
    enrolled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    #: Day 0 of the visit schedule (the randomization date once randomization exists).
    anchor_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["subject_id"]
        constraints = [models.UniqueConstraint(fields=["site", "number"], name="one_number_per_site")]

    def __str__(self) -> str:
        return self.subject_id


class FormEntry(models.Model):
    """One eCRF of one visit of one subject; ``version`` guards concurrent edits."""

    class Status(models.TextChoices):
        STARTED = "started", _("Started")
        COMPLETE = "complete", _("Complete")

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="forms")
    visit_id = models.CharField(max_length=40)
    form_id = models.CharField(max_length=40)
    sequence = models.PositiveSmallIntegerField(default=1)
    visit_date = models.DateField(null=True, blank=True)
    data = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STARTED)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "visit_id", "form_id", "sequence"], name="one_form_per_visit")
        ]


class Lock(models.Model):
    """A data manager's lock of one record (a form entry), a subject's visit or the whole
    database, with the reason; lifted with a reason (services.locks). Never deleted."""

    class Scope(models.TextChoices):
        RECORD = "record", _("Record")
        VISIT = "visit", _("Visit")
        DATABASE = "database", _("Database")

    scope = models.CharField(max_length=16, choices=Scope.choices)
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.PROTECT, related_name="locks")
    visit_id = models.CharField(max_length=40, blank=True)
    form_entry = models.ForeignKey(FormEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="locks")
    locked_at = models.DateTimeField()
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    unlocked_at = models.DateTimeField(null=True, blank=True)
    unlocked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    unlock_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-locked_at", "-pk"]

    @property
    def subject_id_label(self) -> str:
        return self.subject.subject_id if self.subject else ""

    @property
    def record_label(self) -> str:
        e = self.form_entry
        return f"{e.visit_id}/{e.form_id}" + (f"#{e.sequence}" if e.sequence != 1 else "") if e else ""

    def summary(self) -> dict:
        return {"scope": self.scope, "subject": self.subject_id_label, "visit": self.visit_id, "form": self.record_label}


class Signature(models.Model):
    """An investigator's electronic signature of a subject's visit (or, with no visit, the
    whole casebook): printed name, time, meaning, and the hash of what was signed
    (21 CFR 11.50, 11.70). A later change to that content voids it (services.signatures)."""

    class Meaning(models.TextChoices):
        APPROVAL = "approval", _("Approval: I approve these data as complete and accurate")
        REVIEW = "review", _("Review: I have reviewed these data")
        RESPONSIBILITY = "responsibility", _("Responsibility: I take responsibility for these data")

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="signatures")
    visit_id = models.CharField(max_length=40, blank=True, help_text="Empty: the subject's whole casebook.")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    printed_name = models.CharField(max_length=150)
    meaning = models.CharField(max_length=16, choices=Meaning.choices)
    signed_at = models.DateTimeField()
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the form entries signed (services.signatures).")
    entries = models.PositiveIntegerField(help_text="How many form entries were signed.")
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-signed_at", "-pk"]

    def summary(self) -> dict:
        return {"visit": self.visit_id or "(casebook)", "signer": self.printed_name, "meaning": self.meaning,
                "signed_at": self.signed_at.isoformat(), "content_hash": self.content_hash, "entries": self.entries}  # fmt: skip

class DataQuery(models.Model):
    class State(models.TextChoices):
        OPEN = "open", _("Open")
        ANSWERED = "answered", _("Answered")
        CLOSED = "closed", _("Closed")
        CLOSED_MODIFIED = "closed_modified", _("Closed, value changed since")

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="queries")
    form_entry = models.ForeignKey(FormEntry, on_delete=models.PROTECT, related_name="queries")
    field = models.CharField(max_length=60)
    check_id = models.CharField(max_length=60, blank=True, help_text="The edit check that raised it; empty if manual.")
    text = models.TextField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    raised_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    value_when_closed = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]


class QueryMessage(models.Model):
    query = models.ForeignKey(DataQuery, on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    kind = models.CharField(max_length=16)  # raise | answer | close | reopen | system
    text = models.TextField()

    class Meta:
        ordering = ["at", "pk"]


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: D102
        raise PermissionError("audit rows cannot be changed")

    def delete(self):  # noqa: D102
        raise PermissionError("audit rows cannot be deleted")


class AuditEvent(models.Model):
    """One audited change (21 CFR 11.10(e)): who, when (UTC), what, old, new, why.

    Append-only: the application refuses updates and deletes here; database
    triggers refuse them too (migration 0002). Tamper-evident: each row carries the
    hash of the row before it (by key) and its own, over that and its content
    (``hepatrial.core.audit_chain``); ``hepatrial audit verify`` walks the chain.
    """

    at = models.DateTimeField(db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    username = models.CharField(max_length=150, help_text="Kept as it was at the time.")
    route = models.CharField(max_length=16, help_text="web | api | import | system")
    action = models.CharField(max_length=40)
    model = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    field = models.CharField(max_length=80, blank=True)
    old = models.JSONField(null=True)
    new = models.JSONField(null=True)
    reason = models.TextField(blank=True)
    site = models.ForeignKey(Site, null=True, on_delete=models.PROTECT, related_name="+")
    subject_id = models.CharField(max_length=32, blank=True, db_index=True)
    prev_hash = models.CharField(max_length=64, editable=False, default="", help_text="The hash of the row before this one.")
    hash = models.CharField(max_length=64, editable=False, default="", help_text="SHA-256 over prev_hash and this row's content.")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]
        # a user's attempts (the sign-in lockout reads them at every login)
        indexes = [models.Index(fields=["username", "action", "id"], name="audit_user_action")]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit rows cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit rows cannot be deleted")


class ApiToken(models.Model):
    """A personal API token: only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="The token's first characters, to tell tokens apart.")
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)


class AllocationList(models.Model):
    """The imported randomization list (one per protocol): its file's digest and who imported it."""

    protocol_id = models.CharField(max_length=40, unique=True)
    digest = models.CharField(max_length=64)
    file_name = models.CharField(max_length=255)
    rows = models.PositiveIntegerField()
    imported_at = models.DateTimeField()
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")


class AllocationSlot(models.Model):
    """One row of the list. ``sequence`` orders the claims and is never shown to
    site users; a slot is claimed by a conditional update (subject IS NULL)."""

    allocation_list = models.ForeignKey(AllocationList, on_delete=models.PROTECT, related_name="slots")
    row = models.PositiveIntegerField(help_text="Position in the list file (1 = first data line).")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    stratum = models.CharField(max_length=40)
    sequence = models.PositiveIntegerField()
    block = models.PositiveIntegerField()
    block_size = models.PositiveSmallIntegerField()
    arm = models.CharField(max_length=40)
    available = models.BooleanField(default=True)
    unavailable_reason = models.TextField(blank=True, help_text="Why the statistician took the slot out of use.")
    manual = models.BooleanField(default=False, help_text="Allocated by hand by the statistician, not claimed in order.")
    subject = models.OneToOneField(
        Subject, null=True, blank=True, on_delete=models.PROTECT, related_name="allocation"
    )
    allocated_at = models.DateTimeField(null=True, blank=True)
    allocated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["allocation_list", "site", "stratum", "sequence"], name="one_slot_per_position"),
            models.UniqueConstraint(fields=["allocation_list", "row"], name="one_slot_per_row"),
        ]
        indexes = [models.Index(fields=["site", "stratum", "sequence"], name="slot_claim_order")]

    @property
    def reference(self) -> str:
        """How the statistician names a slot: site, stratum and position, e.g. ``SYSU3-ACLF-7``."""
        return f"{self.site.code}-{self.stratum}-{self.sequence}"


class Deviation(models.Model):
    """A protocol deviation of one subject: what happened, when, who reported it,
    and what was done. A dose outside its window links its dosing form."""

    class Type(models.TextChoices):
        DOSE_WINDOW = "dose_window", _("Dose outside its window")
        MISSED_DOSE = "missed_dose", _("Dose missed or not given in full")
        VISIT_WINDOW = "visit_window", _("Visit outside its window")
        ELIGIBILITY = "eligibility", _("Eligibility criterion not met")
        CONSENT = "consent", _("Consent procedure")
        PROCEDURE = "procedure", _("Procedure or assessment not done as planned")
        OTHER = "other", _("Other")

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="deviations")
    type = models.CharField(max_length=20, choices=Type.choices)
    occurred_on = models.DateField()
    description = models.TextField()
    action = models.TextField(help_text="What was done about it (corrective and preventive action).")
    form_entry = models.ForeignKey(
        FormEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="deviations",
        help_text="The form the deviation concerns (a dose's dosing form).",
    )
    reported_at = models.DateTimeField()
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-occurred_on", "-pk"]


class SaeReport(models.Model):
    """A report of a serious adverse event to the sponsor and ethics committee:
    the initial one (due within the protocol's hours of awareness), follow-ups
    linked to it, and a death report."""

    class Kind(models.TextChoices):
        INITIAL = "initial", _("Initial report")
        FOLLOW_UP = "follow_up", _("Follow-up report")
        DEATH = "death", _("Death report")

    form_entry = models.ForeignKey(FormEntry, on_delete=models.PROTECT, related_name="sae_reports",
                                   help_text="The adverse event form.")  # fmt: skip
    kind = models.CharField(max_length=12, choices=Kind.choices)
    follows = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="follow_ups")
    narrative = models.TextField()
    form_version = models.PositiveIntegerField(help_text="The AE form's version the report was made from.")
    form_data = models.JSONField(default=dict, help_text="The AE form's values as reported (they may change later).")
    aware_at = models.DateTimeField(null=True, blank=True, help_text="When the site became aware, as reported.")
    due_at = models.DateTimeField(null=True, blank=True, help_text="When the initial report was due, as reported.")
    submitted_at = models.DateTimeField()
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["submitted_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["form_entry"], condition=models.Q(kind="initial"), name="one_initial_sae_report")
        ]


class StoppingRuleTrip(models.Model):
    """A stopping rule found true: dosing pauses or stops for every subject until
    the DSMB's decision is recorded."""

    rule_id = models.CharField(max_length=60)
    action = models.CharField(max_length=20)
    tripped_at = models.DateTimeField()
    display = models.TextField(help_text="The values that decided, e.g. 'ev_severe_reactions 2 >= 2'.")
    metrics = models.JSONField(help_text="The metrics when the rule tripped.")
    evidence = models.JSONField(default=list, help_text="The events behind them ('ae:<form id>', 'death:<subject>').")

    class Meta:
        ordering = ["-tripped_at", "-pk"]


class DsmbDecision(models.Model):
    class Decision(models.TextChoices):
        CONTINUE = "continue", _("Continue unchanged")
        MODIFY = "modify", _("Continue with modifications")
        STOP = "stop", _("Stop dosing")

    trip = models.OneToOneField(StoppingRuleTrip, on_delete=models.PROTECT, related_name="decision")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    decided_on = models.DateField()
    reason = models.TextField()
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")


class SafetyAlert(models.Model):
    """A safety alert shown on the dashboard and e-mailed once: a new SAE, an
    overdue SAE report, a tripped stopping rule. ``key`` makes it once only."""

    class Kind(models.TextChoices):
        SAE_NEW = "sae_new", _("New serious adverse event")
        SAE_OVERDUE = "sae_overdue", _("SAE report overdue")
        RULE_TRIPPED = "rule_tripped", _("Stopping rule tripped")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=120, unique=True)
    text = models.TextField()
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]


class ReferenceRange(models.Model):
    """A site laboratory's reference range for one test (and sex, or any), in the
    test's canonical unit: what CTCAE grades against (ULN, LLN)."""

    class Sex(models.TextChoices):
        ANY = "any", _("any")
        MALE = "male", _("male")
        FEMALE = "female", _("female")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="reference_ranges")
    lab_test = models.CharField(max_length=40)
    sex = models.CharField(max_length=8, choices=Sex.choices, default=Sex.ANY)
    lln = models.FloatField(null=True, blank=True)
    uln = models.FloatField(null=True, blank=True)
    source = models.TextField(help_text="Where the range comes from (the site laboratory's document).")
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "lab_test", "sex"], name="one_range_per_site_test_sex")]


class AeProposal(models.Model):
    """A lab value whose CTCAE grade is worse than at baseline: an adverse event
    proposed for the investigator to confirm (recording the AE) or dismiss with a reason."""

    class State(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        CONFIRMED = "confirmed", _("Confirmed (AE recorded)")
        DISMISSED = "dismissed", _("Dismissed")

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="ae_proposals")
    lab_entry = models.ForeignKey(FormEntry, on_delete=models.PROTECT, related_name="ae_proposals")
    lab_test = models.CharField(max_length=40)
    term = models.CharField(max_length=80)
    value = models.FloatField()
    grade = models.PositiveSmallIntegerField()
    baseline_grade = models.PositiveSmallIntegerField(null=True, blank=True)
    criterion = models.TextField()
    sampled_on = models.DateField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PROPOSED)
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    ae_entry = models.ForeignKey(FormEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-sampled_on", "-pk"]


class PrescreenRun(models.Model):
    """A pre-screening of a data source for a site (issue #7): a background job and what it found."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="prescreen_runs")
    source = models.CharField(_("source"), max_length=200, help_text=_("A folder of the pre-screening directory."))
    protocol_id = models.CharField(max_length=40)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="Percent done, as the engine reports it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When the run's job last said it is alive "
                                        "(whichever server process runs it).")  # fmt: skip
    error = models.TextField(blank=True)
    patients = models.PositiveIntegerField(null=True, blank=True)
    candidates = models.PositiveIntegerField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True, help_text="Funnel, assumptions and candidates (each explained).")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"pre-screening {self.pk} ({self.site.code}, {self.source}, {self.status})"
