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


def consort_svg(flow: Consort) -> str:
    """The CONSORT 2010 flow diagram: enrolment, allocation, follow-up, analysis."""
    arms = list(flow.allocated)
    width, box_w, box_h = 640, 250, 56
    boxes: list[tuple[float, float, list[str]]] = []
    boxes.append((width / 2 - box_w / 2, 10, [f"Assessed for eligibility (n={flow.screened})"]))
    reasons = [f"{r}: {n}" for r, n in flow.excluded_reasons[:4]] + (["..."] if len(flow.excluded_reasons) > 4 else [])
    boxes.append((width - box_w - 5, 80, [f"Not enrolled (n={flow.excluded})", *reasons]))
    boxes.append((width / 2 - box_w / 2, 190, [f"Randomized (n={flow.randomized})"]))
    for i, arm in enumerate(arms[:2]):
        x = 20 if i == 0 else width - box_w - 20
        boxes.append((x, 270, [f"Allocated to {arm} (n={flow.allocated[arm]})", f"Received an infusion (n={flow.received[arm]})"]))
        boxes.append((x, 350, [f"Fewer than all infusions (n={flow.discontinued[arm]})"]))
        boxes.append((x, 430, [f"Analysed (ITT) (n={flow.analysed[arm]})"]))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="500" viewBox="0 0 {width} 500" '
             'font-family="sans-serif" font-size="12"><title>CONSORT flow diagram</title>']  # fmt: skip
    for x, y, lines in boxes:
        h = max(box_h, 18 + 15 * len(lines))
        parts.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{h}" fill="#fff" stroke="#333"/>')
        for j, line in enumerate(lines):
            parts.append(f'<text x="{x + 8:.0f}" y="{y + 20 + 15 * j:.0f}">{escape(line[:44])}</text>')
    mid = width / 2
    parts.append(f'<line x1="{mid}" y1="66" x2="{mid}" y2="190" stroke="#333"/><line x1="{mid}" y1="110" x2="{width - box_w - 5}" y2="110" stroke="#333"/>')
    for i in range(min(2, len(arms))):
        x = 20 + box_w / 2 if i == 0 else width - 20 - box_w / 2
        parts.append(f'<line x1="{mid}" y1="246" x2="{x:.0f}" y2="270" stroke="#333"/>'
                     f'<line x1="{x:.0f}" y1="326" x2="{x:.0f}" y2="350" stroke="#333"/>'
                     f'<line x1="{x:.0f}" y1="406" x2="{x:.0f}" y2="430" stroke="#333"/>')  # fmt: skip
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
