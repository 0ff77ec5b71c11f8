"""The analysis report as PDF (fpdf2): the same sections and blocks as the HTML
page; tables as tables, figures as their SVG (fpdf2 draws SVG paths and text).

Fonts: DejaVu Sans from Debian's fonts-dejavu-core when installed, else the core
font Helvetica, which covers Latin-1 only: any other character is printed as '?'
(the report's own text is ASCII; subject and site texts may not be)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from fpdf import FPDF

from hepatrial.core.report.html import Block, Report

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


class _Pdf(FPDF):
    def __init__(self, footer_text: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.family = "Helvetica"
        regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            self.add_font("DejaVu", "", str(regular))
            self.add_font("DejaVu", "B", str(bold))
            self.family = "DejaVu"
        self.set_auto_page_break(auto=True, margin=16)

    def text_safe(self, text: str) -> str:
        if self.family == "DejaVu":
            return text
        return text.encode("latin-1", errors="replace").decode("latin-1")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, "", 7)
        self.cell(0, 5, self.text_safe(self.footer_text), align="L")
        self.set_x(-40)
        self.cell(30, 5, f"Page {self.page_no()} of {{nb}}", align="R")


def render_pdf(report: Report) -> bytes:
    pdf = _Pdf(f"{report.subtitle} - {report.generated}")
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font(pdf.family, "B", 15)
    pdf.multi_cell(0, 7, pdf.text_safe(report.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 10)
    pdf.multi_cell(0, 5, pdf.text_safe(report.subtitle), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 8)
    pdf.multi_cell(0, 4, pdf.text_safe(report.generated), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for text in report.caveats:
        _caveat(pdf, text)
    for i, section in enumerate(report.sections, start=1):
        if pdf.get_y() > LOW or (section.blocks and _needs_new_page(pdf, section.blocks[0], 10)):
            pdf.add_page()  # never a section title alone at the foot of a page
        pdf.ln(3)
        pdf.set_font(pdf.family, "B", 12)
        pdf.multi_cell(0, 6, pdf.text_safe(f"{i}. {section.title}"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        for j, block in enumerate(section.blocks):
            following = section.blocks[j + 1] if j + 1 < len(section.blocks) else None
            if block.kind == "heading" and following is not None and _needs_new_page(pdf, following, 6):
                pdf.add_page()  # a heading goes with the figure or table it names
            _block(pdf, block)
    return bytes(pdf.output())


#: Below this (mm from the top of an A4 page) a title or a table's heading starts a new page.
LOW = 250
#: A figure is about 110 mm high: below this it starts on a new page rather than being cut.
FIGURE_LOW = 150


def _needs_new_page(pdf: _Pdf, block: Block, above: float) -> bool:
    """Would ``block``, placed ``above`` mm lower, start a new page of its own?"""
    if block.kind == "figure":
        return pdf.get_y() + above > FIGURE_LOW
    return block.kind == "table" and pdf.get_y() + above > LOW


def _caveat(pdf: _Pdf, text: str) -> None:
    pdf.set_font(pdf.family, "", 8)
    pdf.set_fill_color(255, 244, 214)
    pdf.multi_cell(0, 4, pdf.text_safe(text), fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _block(pdf: _Pdf, block: Block) -> None:
    if block.kind == "heading":
        pdf.set_font(pdf.family, "B", 10)
        pdf.multi_cell(0, 5, pdf.text_safe(block.text), new_x="LMARGIN", new_y="NEXT")
    elif block.kind == "note":
        pdf.set_font(pdf.family, "", 8)
        pdf.multi_cell(0, 4, pdf.text_safe(block.text), new_x="LMARGIN", new_y="NEXT")
    elif block.kind == "caveat":
        _caveat(pdf, block.text)
    elif block.kind == "figure":
        if pdf.get_y() > FIGURE_LOW:
            pdf.add_page()
        # fpdf2 draws SVG text with a core font (Latin-1): any other character becomes '?', never a crash;
        # it has no use for <title> (tooltips in the HTML page) and would warn about each one
        svg = re.sub(r"<title>.*?</title>", "", block.svg, flags=re.S).encode("latin-1", errors="replace").decode("latin-1")
        pdf.image(io.BytesIO(svg.encode("utf-8")), w=170)
        if block.text:
            pdf.set_font(pdf.family, "", 7)
            pdf.multi_cell(0, 4, pdf.text_safe(block.text), new_x="LMARGIN", new_y="NEXT")
    elif block.kind == "table" and block.table is not None:
        table = block.table
        if pdf.get_y() > LOW:
            pdf.add_page()  # a table's title with at least a few of its rows
        pdf.set_font(pdf.family, "B", 9)
        pdf.multi_cell(0, 5, pdf.text_safe(f"{table.title} ({table.population})"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(pdf.family, "", 7)
        with pdf.table(line_height=4, text_align="LEFT", first_row_as_headings=True) as t:
            for row in [table.columns, *table.rows]:
                cells = t.row()
                for value in row:
                    cells.cell(pdf.text_safe(str(value)))
        for text in table.notes:
            pdf.set_font(pdf.family, "", 7)
            pdf.multi_cell(0, 4, pdf.text_safe(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
