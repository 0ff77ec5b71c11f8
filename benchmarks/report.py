"""Benchmark: building the analysis report. From ADaM files (no database): the PBC
replay (312 subjects; issue #6's target < 15 s) and a 20-subject trial cut from it
(target < 5 s); and from the database: the simulated demo trial of 20 subjects
(`hepatrial demo-trial` into a temporary home; target < 5 s, ADaM derivation
included). Prints one table; with --png DIR also renders both reports to PNG with
Debian's Chromium (the pictures docs/analysis.md shows).

    uv run python benchmarks/report.py [--png docs/report] [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pbc_adam import pbc_adam  # noqa: E402

from hepatrial.core.report.adam_files import report_from_adam_files  # noqa: E402


def cut(folder: Path, out: Path, n: int) -> Path:
    """The first ``n`` subjects of each ADaM file in ``folder``."""
    out.mkdir(parents=True, exist_ok=True)
    with open(folder / "adsl.csv", encoding="utf-8") as handle:
        keep = {r["USUBJID"] for r in list(csv.DictReader(handle))[:n]}
    for name in ("adsl", "adtte", "adlb"):
        with open(folder / f"{name}.csv", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r["USUBJID"] in keep]
        with open(out / f"{name}.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return out


def timed(folder: Path, repeat: int) -> tuple[float, str]:
    times, html = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        html, _numbers = report_from_adam_files(folder, "benchmark")
        times.append(time.perf_counter() - started)
    return statistics.median(times), html


def render_png(html: str, out: Path, prefix: str = "pbc-report") -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    page_file = out / "report.html"
    page_file.write_text(html, encoding="utf-8")
    shots = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        page.goto(page_file.resolve().as_uri())
        total = page.evaluate("document.body.scrollHeight")
        for i, top in enumerate(range(0, total, 1400), start=1):
            shot = out / f"{prefix}-{i:02d}.png"
            page.screenshot(path=str(shot), clip={"x": 0, "y": top, "width": 1100, "height": min(1400, total - top)}, full_page=True)
            shots.append(shot)
        browser.close()
    page_file.unlink()
    return shots


def timed_demo(repeat: int) -> tuple[float, str]:
    """The simulated 20-subject trial in a temporary home, then the report from its database."""
    import os
    import subprocess

    home = tempfile.mkdtemp(prefix="hepatrial-demo-")
    os.environ["HEPATRIAL_HOME"] = home
    subprocess.run([sys.executable, "-m", "hepatrial.cli", "demo-trial"], check=True, capture_output=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hepatrial.web.settings")
    import django

    django.setup()
    from hepatrial.services.report import report_from_database

    times, html = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        html, _numbers = report_from_database()
        times.append(time.perf_counter() - started)
    return statistics.median(times), html


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--png", type=Path, help="render the PBC report's pages to PNG into this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hepatrial-report-") as tmp:
        full = pbc_adam(Path(tmp) / "pbc")
        small = cut(full, Path(tmp) / "pbc20", 20)
        rows = []
        for label, folder, target in (("20 subjects (PBC, first 20)", small, 5.0), ("PBC replay, 312 subjects", full, 15.0)):
            seconds, html = timed(folder, args.repeat)
            rows.append((label, seconds, target, len(html)))
        pbc_html = html
        seconds, demo_html = timed_demo(args.repeat)
        rows.insert(0, ("demo trial, 20 simulated subjects (from the database)", seconds, 5.0, len(demo_html)))
        print(f"\nanalysis report, median of {args.repeat} runs")
        print("| data | seconds | target | HTML size |")
        print("|---|---:|---:|---:|")
        for label, seconds, target, size in rows:
            print(f"| {label} | {seconds:.2f} | < {target:g} | {size / 1024:.0f} KiB |")
        if args.png:
            for shot in [*render_png(pbc_html, args.png), *render_png(demo_html, args.png, "demo-report")]:
                print(f"wrote {shot}")


if __name__ == "__main__":
    main()
