"""The analysis report as one self-contained HTML page (inline CSS and SVG, no
scripts): what a DSMB or a journal expects to read. Pure: a :class:`Report`
in, text out; every text is escaped."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from hepatrial.core.report.tables import Consort, Table

CSS = """
body { font-family: sans-serif; max-width: 60rem; margin: 2rem auto; color: #111; line-height: 1.4; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #999; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #bbb; padding: .2rem .5rem; text-align: left; vertical-align: top; }
th { background: #eef1f5; } caption { text-align: left; font-weight: 600; padding: .3rem 0; }
.note, .caveat { font-size: .85rem; color: #444; } .caveat { border-left: 4px solid #b8860b; padding-left: .5rem; }
figure { margin: 1rem 0; } figcaption { font-size: .85rem; color: #444; }
"""


@dataclass(frozen=True)
class Block:
    """One piece of a section: a table, a figure (SVG), a heading, a note or a caveat.
    The HTML and the PDF renderers each draw every kind."""

    kind: str  # "table" | "figure" | "heading" | "note" | "caveat"
    table: Table | None = None
    svg: str = ""
    text: str = ""  # heading / note / caveat text, or a figure's caption


def table_block(table: Table) -> Block:
    return Block("table", table=table)


def figure_block(svg: str, caption: str) -> Block:
    return Block("figure", svg=svg, text=caption)


def heading(text: str) -> Block:
    return Block("heading", text=text)


def note(text: str) -> Block:
    return Block("note", text=text)


def caveat(text: str) -> Block:
    return Block("caveat", text=text)


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    title: str
    subtitle: str
    generated: str
    caveats: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


def table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in table.rows)
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in table.notes)
    return (f'<table><caption>{escape(table.title)} <small>({escape(table.population)})</small></caption>'
            f"<tr>{head}</tr>{body}</table>{notes}")  # fmt: skip


def _reason_lines(reasons: list[tuple[str, int]], limit: int = 3) -> list[str]:
    lines = [f"  {r}: {n}" for r, n in reasons[:limit]]
    return lines + (["  ..."] if len(reasons) > limit else [])


def consort_svg(flow: Consort) -> str:
    """The CONSORT 2010 flow diagram: enrolment, allocation, follow-up, analysis."""
    arms = list(flow.allocated)[:2]
    width, box_w, line_h = 660, 270, 15
    boxes: list[tuple[float, float, list[str]]] = []  # (x, y, lines)
    links: list[tuple[float, float, float, float]] = []  # (x1, y1, x2, y2)

    def box(x: float, y: float, lines: list[str]) -> float:
        """Add a box; return its bottom."""
        boxes.append((x, y, lines))
        return y + 12 + line_h * len(lines)

    mid, left_x = width / 2, width / 2 - box_w / 2
    side_x = width - box_w - 5
    bottom = box(left_x, 10, [f"Assessed for eligibility (n={flow.screened})"])
    reasons = _reason_lines(flow.excluded_reasons, 4)
    if sum(n for _r, n in flow.excluded_reasons) > flow.excluded:
        reasons.append("  (one candidate may fail several)")
    side_top = bottom + 14
    side_bottom = box(side_x, side_top, [f"Not enrolled (n={flow.excluded})", *reasons])
    links.append((mid, side_top + 12, side_x, side_top + 12))
    y = max(side_bottom, side_top + 40) + 14
    links.append((mid, bottom, mid, y))
    bottom = box(left_x, y, [f"Enrolled (consented, eligible) (n={flow.enrolled})"])
    if flow.not_randomized:
        side_top = bottom + 10
        side_bottom = box(side_x, side_top, [f"Not randomized (n={flow.not_randomized})", *_reason_lines(flow.not_randomized_reasons)])
        links.append((mid, side_top + 12, side_x, side_top + 12))
        y = max(side_top + 40, side_bottom + 10)
    else:
        y = bottom + 20
    links.append((mid, bottom, mid, y))
    bottom = box(left_x, y, [f"Randomized (n={flow.randomized})"])
    top = bottom + 24
    if flow.has_disposition:
        follow = [[f"Treatment stopped early (n={flow.discontinued[arm]})", *_reason_lines(flow.discontinued_reasons[arm]),
                   f"Follow-up ended early (n={flow.left_study[arm]})", *_reason_lines(flow.left_reasons[arm]),
                   f"Completed follow-up (n={flow.completed[arm]})", f"In follow-up at the cut-off (n={flow.ongoing[arm]})"]
                  for arm in arms]  # fmt: skip
    else:
        follow = [[f"Fewer doses than planned (n={flow.discontinued[arm]})", "Follow-up: not in ADSL (no EOSSTT)"] for arm in arms]
    allocated_h = 12 + line_h * 3
    analysed_y = top + allocated_h + 16 + 12 + line_h * max((len(f) for f in follow), default=0) + 16  # both arms level
    for i, arm in enumerate(arms):
        x = 15 if i == 0 else width - box_w - 15
        cx = x + box_w / 2
        links.append((mid, bottom, cx, top))
        b = box(x, top, [f"Allocated to {arm} (n={flow.allocated[arm]})", f"  received the intervention (n={flow.received[arm]})",
                         f"  did not receive it (n={flow.allocated[arm] - flow.received[arm]})"])  # fmt: skip
        links.append((cx, b, cx, b + 16))
        b = box(x, b + 16, follow[i])
        links.append((cx, b, cx, analysed_y))
        box(x, analysed_y, [f"Analysed (ITT) (n={flow.analysed[arm]})"])
    height = int(analysed_y + 12 + line_h + 10)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'font-family="sans-serif" font-size="12"><title>CONSORT flow diagram</title>']  # fmt: skip
    for x1, y1, x2, y2 in links:
        parts.append(f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#333"/>')
    for x, y, lines in boxes:
        parts.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{12 + line_h * len(lines)}" fill="#fff" stroke="#333"/>')
        for j, line in enumerate(lines):
            indent = 10 if line.startswith("  ") else 0
            text = line.strip()
            text = text if len(text) <= 42 else text[:41] + "..."
            parts.append(f'<text x="{x + 8 + indent:.0f}" y="{y + 16 + line_h * j:.0f}">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def block_html(block: Block) -> str:
    if block.kind == "table" and block.table is not None:
        return table_html(block.table)
    if block.kind == "figure":
        caption = f"<figcaption>{escape(block.text)}</figcaption>" if block.text else ""
        return f"<figure>{block.svg}{caption}</figure>"  # the SVG is built (and escaped) by figures.py
    if block.kind == "heading":
        return f"<h3>{escape(block.text)}</h3>"
    css = "caveat" if block.kind == "caveat" else "note"
    return f'<p class="{css}">{escape(block.text)}</p>'


def render(report: Report) -> str:
    caveats = "".join(f'<p class="caveat">{escape(c)}</p>' for c in report.caveats)
    toc = "".join(f'<li><a href="#s{i}">{escape(s.title)}</a></li>' for i, s in enumerate(report.sections, start=1))
    body = "".join(f'<h2 id="s{i}">{i}. {escape(s.title)}</h2>' + "".join(block_html(b) for b in s.blocks)
                   for i, s in enumerate(report.sections, start=1))  # fmt: skip
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(report.title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{escape(report.title)}</h1><p>{escape(report.subtitle)}</p>"
            f'<p class="note">{escape(report.generated)}</p>{caveats}<ol>{toc}</ol>{body}</body></html>')  # fmt: skip
