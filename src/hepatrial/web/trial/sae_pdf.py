"""The PDF of a submitted SAE report, laid out after the CIOMS-I form, for the
sponsor and the ethics committee.

The content (:func:`sae_report_content`) comes from the stored records: the
report, its adverse event form (as it is now, with a line when the form has
changed since the report), the subject's screening (age, sex), allocation and
dosing forms. No identifying details: CIOMS-I asks for initials, hepatrial
keeps identity apart, so the subject is named by the subject id.

Fonts: DejaVu Sans from Debian's fonts-dejavu-core when it is installed
(:data:`FONT_DIR`), else the PDF core font Helvetica (Latin-1 only). Every
character the font in use cannot show is printed as ``?`` and the first page
says how many were replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.fonts import FontFace

from hepatrial import __version__
from hepatrial.core.forms import stored_datetime
from hepatrial.core.protocol import display_number
from hepatrial.services.access import Actor
from hepatrial.services.protocol import arm_label, current_protocol
from hepatrial.services.safety import is_ae_form, sae_clock
from hepatrial.web.trial.models import AllocationSlot, FormEntry, SaeReport
from hepatrial.web.trial.views import _form_context, _subject_or_404

#: Debian's fonts-dejavu-core; without it the PDF falls back to the core font Helvetica.
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
UTC = ZoneInfo("UTC")
NOT_RECORDED = "(not recorded)"
REPLACEMENT = "?"


# --- the content -----------------------------------------------------------------------------

@dataclass
class Section:
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)  # label, value
    table: list[list[str]] | None = None  # first row: headings
    text: str | None = None  # a paragraph (the narrative)
    notes: list[str] = field(default_factory=list)


@dataclass
class Content:
    kind: str  # "Initial report", "Follow-up report 2", "Death report"
    title: str
    subtitle: str
    warnings: list[str]
    sections: list[Section]
    footer: str

    def strings(self):
        yield from (self.kind, self.title, self.subtitle, self.footer, *self.warnings)
        for s in self.sections:
            yield s.title
            yield from (x for row in s.rows for x in row)
            yield from (x for row in (s.table or []) for x in row)
            yield from ([s.text] if s.text else [])
            yield from s.notes


def _both_times(value: datetime | None, tz: ZoneInfo) -> str:
    if value is None:
        return NOT_RECORDED
    if value.tzinfo is None:
        return value.strftime("%Y-%m-%d %H:%M")
    return f"{value.astimezone(tz).strftime('%Y-%m-%d %H:%M %Z')} ({value.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')})"




def _field_value(spec, value, tz: ZoneInfo) -> str:
    """A stored form value as printed: choices by label, booleans as boxes, date-times in site time and UTC."""
    if spec.type == "boolean":
        return "[X] Yes" if value is True else "[ ] No" if value is False else "[ ]"
    if value is None or value == "":
        return NOT_RECORDED
    if spec.type == "choice":
        label = next((c.label for c in spec.choices or [] if str(c.value) == str(value)), None)
        return label if label is not None else str(value)
    if spec.type == "datetime":
        when = stored_datetime(value)
        return _both_times(when, tz) if when else str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return display_number(value) + (f" {spec.unit}" if spec.unit else "")
    return str(value)


def _report_kind(report: SaeReport) -> str:
    if report.kind == SaeReport.Kind.FOLLOW_UP:
        earlier = report.form_entry.sae_reports.filter(kind=SaeReport.Kind.FOLLOW_UP)
        number = sum(1 for r in earlier if (r.submitted_at, r.pk) <= (report.submitted_at, report.pk))
        return f"{report.get_kind_display()} {number}"
    return str(report.get_kind_display())


def _doses_before(entry: FormEntry, onset: date | None, tz: ZoneInfo) -> tuple[list[list[str]], int]:
    """The infusions given on or before the onset date (from the dosing forms), and how many were given after it."""
    protocol = current_protocol()
    dosing = protocol.dosing
    if dosing is None:
        return [], 0
    form = protocol.form(dosing.form)
    order = {v.id: i for i, v in enumerate(protocol.visits)}
    rows, after = [], 0
    doses = entry.subject.forms.filter(form_id=dosing.form)
    for dose in sorted(doses, key=lambda d: (order.get(d.visit_id, 999), d.sequence)):
        data = dose.data
        if data.get(dosing.given_field) is not True:
            continue
        start = stored_datetime(data.get(dosing.start_field))
        day = start.astimezone(tz).date() if start and start.tzinfo else start.date() if start else dose.visit_date
        if onset is not None and day is not None and day > onset:
            after += 1
            continue

        def shown(field_id: str) -> str:
            return _field_value(form.field(field_id), data.get(field_id), tz) if form.has_field(field_id) else ""

        visit = next((v.label for v in protocol.visits if v.id == dose.visit_id), dose.visit_id)
        rows.append([visit, start.astimezone(tz).strftime("%Y-%m-%d %H:%M") if start and start.tzinfo else
                     (day.isoformat() if day else NOT_RECORDED),
                     shown("lot_number"), shown("volume_ml"), shown("particle_count")])  # fmt: skip
    return rows, after


def sae_report_content(report: SaeReport, now: datetime | None = None) -> Content:
    """What the PDF of ``report`` prints, from the stored records."""
    protocol = current_protocol()
    spec = protocol.safety
    entry = report.form_entry
    subject = entry.subject
    site = subject.site
    tz = ZoneInfo(site.time_zone)
    # the values as reported (stored with the report); reports made before that was stored fall back to the form now
    data = report.form_data or entry.data
    ae_form = protocol.form(entry.form_id)
    now = now or timezone.now()
    warnings = []
    if entry.version > report.form_version:
        shown = "as reported" if report.form_data else "as they are now"
        warnings.append(f"The AE form has changed since this report (version {report.form_version} -> {entry.version}); "
                        f"the values below are {shown}; see the audit trail.")  # fmt: skip

    screening = subject.screening
    arm = AllocationSlot.objects.filter(subject=subject).values_list("arm", flat=True).first()
    onset_value = data.get(spec.onset_field)
    try:
        onset = date.fromisoformat(onset_value) if isinstance(onset_value, str) and onset_value else None
    except ValueError:
        onset = None

    patient = Section("I. Reaction information", rows=[
        ("Subject id (in place of initials)", subject.subject_id),
        ("Site", f"{site.code} {site.name} (time zone {site.time_zone})"),
        ("Age at screening", f"{screening.age} years" if screening.age is not None else NOT_RECORDED),
        ("Sex", screening.sex or NOT_RECORDED),
        ("Day 0 (randomization)", subject.anchor_date.isoformat() if subject.anchor_date else NOT_RECORDED),
    ])  # fmt: skip
    event = Section(f"{ae_form.title} no. {entry.sequence} (AE form version {entry.version}, "
                    f"{entry.get_status_display().lower()})",  # fmt: skip
                    rows=[(f.label, _field_value(f, data.get(f.id), tz)) for f in ae_form.fields])
    event.notes.extend(warnings)

    clock = sae_clock(entry)
    timing = Section("Reporting clock", rows=[
        ("Site became aware", _both_times(clock.aware_at, tz) if clock else NOT_RECORDED),
        (f"Initial report due (within {spec.sae_report_hours} h)", _both_times(clock.due_at, tz) if clock else NOT_RECORDED),
        ("Initial report submitted", (_both_times(clock.reported_at, tz) + (" - on time" if clock.state == "reported" else " - LATE"))
         if clock and clock.reported_at else NOT_RECORDED),
    ])  # fmt: skip

    drug = Section("II. Suspect drug information")
    if arm is None:
        drug.rows.append(("Arm", "not randomized"))
    else:
        drug.rows.append(("Arm", arm_label(arm)))
        if protocol.dosing and arm in protocol.dosing.products:
            product_field = protocol.form(protocol.dosing.form).field(protocol.dosing.product_field)
            drug.rows.append(("Study product", _field_value(product_field, protocol.dosing.products[arm], tz)))
        for intervention in (protocol.intervention(i) for i in protocol.arm(arm).interventions):
            if intervention.dose is None:
                continue
            dose = intervention.dose
            amount = ", ".join(x for x in (
                f"{display_number(dose.particles)} particles" if dose.particles else "", f"{display_number(dose.volume_ml)} mL",
                intervention.route or "", intervention.schedule.description if intervention.schedule else "") if x)  # fmt: skip
            drug.rows.append(("Planned dose", f"{intervention.name}: {amount}"))
        rows, after = _doses_before(entry, onset, tz)
        drug.table = [["Visit", "Infusion start (site time)", "Lot", "Volume", "Particles"], *rows]
        drug.notes.append(f"{len(rows)} infusion(s) given on or before the onset date {onset.isoformat() if onset else '(not recorded)'}"
                          + (f"; {after} given after it (not listed)." if after else "."))  # fmt: skip

    narrative = Section("III. Narrative", text=report.narrative)

    submitter = report.submitted_by
    who = submitter.get_full_name() or submitter.get_username()
    history = Section("IV. This report", rows=[
        ("Report", f"{_report_kind(report)} (hepatrial SAE report {report.pk})"),
        *([("Follows", f"Initial report {report.follows.pk}, submitted {_both_times(report.follows.submitted_at, tz)}")]
          if report.follows else []),
        ("Submitted by", f"{who} ({submitter.get_username()})" if who != submitter.get_username() else who),
        ("Submitted at", _both_times(report.submitted_at, tz)),
        ("Made from", f"AE form version {report.form_version} (the form is now at version {entry.version})"),
        ("Other reports of this event", ", ".join(
            f"{_report_kind(r)} {r.pk}, {r.submitted_at.astimezone(tz).strftime('%Y-%m-%d %H:%M %Z')}"
            for r in entry.sae_reports.exclude(pk=report.pk)) or "none"),
    ])  # fmt: skip

    return Content(
        kind=_report_kind(report),
        title=f"Serious adverse event report (CIOMS-I-like) - {protocol.id}",
        subtitle=f"{protocol.title}. Sponsor: {protocol.sponsor.name}. Event: {data.get(spec.term_field) or NOT_RECORDED} "
                 f"(CTCAE v5.0), grade {data.get(spec.grade_field) or NOT_RECORDED}.",  # fmt: skip
        warnings=warnings,
        sections=[patient, event, timing, drug, narrative, history],
        footer=f"SAE report {report.pk} ({_report_kind(report)}) of {subject.subject_id} - "
               f"generated by hepatrial {__version__} on {now.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
    )


# --- the PDF ---------------------------------------------------------------------------------

class _Pdf(FPDF):
    footer_text = ""

    def footer(self):
        self.set_y(-12)
        self.set_font(self.font_family, "", 7)
        self.cell(0, 4, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="R")


def _fonts(pdf: FPDF) -> tuple[str, set[int] | None]:
    """The font family to use and the code points it covers (None: Latin-1, the core fonts' encoding)."""
    regular = FONT_DIR / FONT_FILES[""]
    if regular.is_file():
        bold = FONT_DIR / FONT_FILES["B"]
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold if bold.is_file() else regular))
        pdf.set_font("DejaVu", "", 9)
        return "DejaVu", set(pdf.current_font.cmap)
    return "helvetica", None


def _covered(ch: str, cmap: set[int] | None) -> bool:
    if ch == "\n":
        return True
    code = ord(ch)
    if code < 0x20 or 0x7F <= code < 0xA0:
        return False
    return code in cmap if cmap is not None else code <= 0xFF


def render_pdf(content: Content) -> bytes:
    pdf = _Pdf(orientation="P", unit="mm", format="A4")
    pdf.set_title(f"{content.title}: {content.kind}")
    pdf.set_creator(f"hepatrial {__version__}")
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_margins(15, 15, 15)
    family, cmap = _fonts(pdf)
    pdf.footer_text = content.footer

    replaced = sum(1 for s in content.strings() for ch in s if not _covered(ch, cmap))

    def t(text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\t", "    ")
        return "".join(ch if _covered(ch, cmap) else REPLACEMENT for ch in text)

    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.add_page()
    pdf.set_font(family, "B", 13)
    pdf.multi_cell(width, 6, t(content.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "B", 12)
    pdf.set_fill_color(230, 230, 230)
    pdf.cell(width, 8, t(content.kind.upper()), border=1, fill=True, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_fill_color(255, 255, 255)
    pdf.ln(1)
    pdf.set_font(family, "", 9)
    pdf.multi_cell(width, 4.5, t(content.subtitle), new_x="LMARGIN", new_y="NEXT")
    for warning in content.warnings:
        pdf.set_font(family, "B", 9)
        pdf.set_text_color(160, 0, 0)
        pdf.multi_cell(width, 5, t(warning), border=1, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    if replaced:
        pdf.set_font(family, "B", 9)
        pdf.multi_cell(width, 5, f"{replaced} character(s) that this PDF's font cannot show are printed as "
                                 f"'{REPLACEMENT}'; the stored text is in hepatrial.", border=1,
                       new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    label_style = FontFace(family=family, emphasis="BOLD", fill_color=(242, 242, 242))
    for section in content.sections:
        pdf.ln(3)
        if pdf.will_page_break(20):
            pdf.add_page()
        pdf.set_font(family, "B", 10.5)
        pdf.cell(width, 6, t(section.title), border="B", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        pdf.set_font(family, "", 8.5)
        if section.rows:
            with pdf.table(col_widths=(62, width - 62), first_row_as_headings=False, line_height=4.5,
                           text_align="LEFT", width=width, borders_layout="ALL") as table:  # fmt: skip
                for label, value in section.rows:
                    row = table.row()
                    row.cell(t(label), style=label_style)
                    row.cell(t(value))
        if section.table and len(section.table) > 1:
            pdf.ln(1)
            with pdf.table(col_widths=(34, 42, 38, 28, 38), line_height=4.5, text_align="LEFT", width=width,
                           headings_style=label_style) as table:  # fmt: skip
                for cells in section.table:
                    row = table.row()
                    for cell in cells:
                        row.cell(t(cell))
        if section.text is not None:
            pdf.multi_cell(width, 4.5, t(section.text), border=1, padding=2, align="L", new_x="LMARGIN", new_y="NEXT")
        for note in section.notes:
            pdf.ln(0.5)
            pdf.multi_cell(width, 4.5, t(note), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# --- the view --------------------------------------------------------------------------------

@login_required
def sae_report_pdf(request, subject_id: str, visit_id: str, form_id: str, sequence: int, report_pk: int):
    """The PDF of one submitted SAE report of an adverse event form (every role that sees the subject)."""
    actor = Actor(request.user, route="web")
    subject = _subject_or_404(actor, subject_id)
    _visit, spec, entry = _form_context(subject, visit_id, form_id, sequence)
    if entry is None or not is_ae_form(spec.id):
        raise Http404(_("No such SAE report."))
    report = get_object_or_404(SaeReport.objects.select_related("submitted_by", "follows", "form_entry__subject__site",
                                                                "form_entry__subject__screening"),
                               pk=report_pk, form_entry=entry)  # fmt: skip
    response = HttpResponse(render_pdf(sae_report_content(report)), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="sae-report-{subject.subject_id}-ae{entry.sequence}-{report.pk}.pdf"'
    patch_cache_control(response, private=True, no_store=True)
    return response
