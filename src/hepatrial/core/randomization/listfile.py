"""The allocation-list file: CSV (UTF-8) behind five comment lines.

```
# hepatrial allocation list
# protocol: NCT05940610
# seed: 8734591023847561
# sites: SYSU3,GZ2
# sha256: 3f5c...
site,stratum,sequence,block,block_size,arm
SYSU3,ACLF,1,1,4,control
...
```

The digest is the SHA-256 of the header line and the data lines joined with
"\\n", exactly as written (no quoting: no field contains a comma). The comment
lines are not covered by it; :func:`read_list` checks them against the rows
instead (the sites) or against what the caller expects (the protocol id).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from hepatrial.core.randomization.allocation import (
    COLUMNS,
    HEADER,
    SITE_ID,
    AllocationList,
    AllocationListError,
    AllocationRow,
    check_structure,
)

if TYPE_CHECKING:
    from hepatrial.core.protocol import RandomizationSpec

MAGIC = "# hepatrial allocation list"
META_KEYS = ("protocol", "seed", "sites", "sha256")
_META = re.compile(r"^# ([a-z0-9_]+):(?: (.*))?$")
_COUNT = re.compile(r"^[1-9][0-9]{0,8}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,39}$")
_ARM = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
_PROTOCOL_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


def render_list(alist: AllocationList) -> str:
    """The file's text."""
    if not alist.protocol_id:
        raise AllocationListError("the list has no protocol id (make_list(..., protocol_id=...))", field="protocol")
    lines = [
        MAGIC,
        f"# protocol: {alist.protocol_id}",
        f"# seed: {alist.seed}",
        f"# sites: {','.join(alist.sites)}",
        f"# sha256: {alist.digest}",
        HEADER,
        *(row.line() for row in alist.rows),
    ]
    return "\n".join(lines) + "\n"


def write_list(alist: AllocationList, path: str | Path, *, overwrite: bool = False) -> str:
    """Write the list to ``path`` (UTF-8, "\\n" line ends); return its digest.

    An existing file is never replaced unless ``overwrite`` (FileExistsError):
    the file is created exclusively, so two runs cannot both write it.
    """
    text = render_list(alist)
    with open(path, "w" if overwrite else "x", encoding="utf-8", newline="\n") as out:
        out.write(text)
    return alist.digest


def read_list(path: str | Path, *, spec: RandomizationSpec | None = None, protocol_id: str | None = None) -> AllocationList:
    """Read and verify an allocation-list file (see :func:`parse_list`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise AllocationListError(f"cannot read: {err.strerror}", field="(file)", source=str(path)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise AllocationListError(f"not UTF-8 text: {err.reason} at byte {err.start}", field="(file)", source=str(path)) from None
    return parse_list(text, spec=spec, protocol_id=protocol_id, source=str(path))


def parse_list(
    text: str, *, spec: RandomizationSpec | None = None, protocol_id: str | None = None, source: str | None = None
) -> AllocationList:
    """Parse and verify an allocation list's text; :class:`AllocationListError` (with the line) otherwise.

    Checked, in this order: the first line; the comment lines (``protocol``,
    ``seed``, ``sites``, ``sha256``, each once); the header, exactly; every row
    well formed (six fields, whole numbers, a listed site); the digest; then
    the structure (:func:`check_structure`: sequences, complete and balanced
    blocks; with ``spec`` the arms, strata, ratio and block sizes of the
    protocol); and with ``protocol_id`` that the file names that protocol.
    "\\r\\n" line ends are read as "\\n"; a UTF-8 byte-order mark is ignored.
    """
    try:
        return _parse(text, spec, protocol_id)
    except AllocationListError as err:
        err.source = source
        err.args = (err.render(),)
        raise


def _parse(text: str, spec: RandomizationSpec | None, protocol_id: str | None) -> AllocationList:
    lines = text.removeprefix("\ufeff").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]
    if not lines or lines[0] != MAGIC:
        raise AllocationListError(f"not a hepatrial allocation list: the first line must be {MAGIC!r}", 1, field="(file)")

    meta: dict[str, tuple[str, int]] = {}
    i = 1
    while i < len(lines) and lines[i].startswith("#"):
        m = _META.match(lines[i])
        if not m:
            raise AllocationListError(f"a comment line before the header is '# key: value', not {lines[i]!r}", i + 1, field="(comment)")
        key, value = m.group(1), (m.group(2) or "").strip()
        if key not in META_KEYS:
            raise AllocationListError(f"unknown key {key!r} (known: {', '.join(META_KEYS)})", i + 1, field=key)
        if key in meta:
            raise AllocationListError(f"{key!r} is given twice (first on line {meta[key][1]})", i + 1, field=key)
        meta[key] = (value, i + 1)
        i += 1
    for key in META_KEYS:
        if key not in meta:
            raise AllocationListError(f"no '# {key}: ...' line before the header", i + 1 if i < len(lines) else None, field=key)

    file_protocol, protocol_line = meta["protocol"]
    if not _PROTOCOL_ID.match(file_protocol):
        raise AllocationListError(f"protocol {file_protocol!r} is not a protocol id", protocol_line, field="protocol")
    seed_text, seed_line = meta["seed"]
    if not re.fullmatch(r"0|[1-9][0-9]*", seed_text):
        raise AllocationListError(f"seed {seed_text!r} is not a whole number >= 0", seed_line, field="seed")
    sites_text, sites_line = meta["sites"]
    sites = tuple(sites_text.split(","))
    for k, site in enumerate(sites):
        if not SITE_ID.match(site):
            raise AllocationListError(f"site {site!r} is not a site id", sites_line, field="sites")
        if site in sites[:k]:
            raise AllocationListError(f"site {site!r} is listed twice", sites_line, field="sites")
    stated, digest_line = meta["sha256"]
    if not re.fullmatch(r"[0-9a-fA-F]{64}", stated):
        raise AllocationListError(f"sha256 {stated!r} is not 64 hexadecimal digits", digest_line, field="sha256")
    stated = stated.lower()

    if i >= len(lines):
        raise AllocationListError(f"no header line (expected {HEADER!r})", None, field="header")
    header_line = i + 1
    if lines[i] != HEADER:
        raise AllocationListError(_header_problem(lines[i]), header_line, field="header")

    rows: list[AllocationRow] = []
    row_lines: list[int] = []
    site_set = set(sites)
    for j in range(i + 1, len(lines)):
        rows.append(_row(lines[j], j + 1, site_set))
        row_lines.append(j + 1)
    if not rows:
        raise AllocationListError("the list has no rows", header_line, field="(file)")

    actual = hashlib.sha256("\n".join(lines[i:]).encode("utf-8")).hexdigest()
    if actual != stated:
        raise AllocationListError(
            f"digest mismatch: the header and rows hash to {actual}, not the {stated} stated here: "
            "the list was changed after it was written",
            digest_line, field="sha256",
        )
    alist = AllocationList(protocol_id=file_protocol, seed=int(seed_text), sites=sites, rows=tuple(rows))
    check_structure(alist, spec, row_lines, sites_line)
    if protocol_id is not None and file_protocol.upper() != protocol_id.upper():
        raise AllocationListError(f"the list is for protocol {file_protocol}, not {protocol_id}", protocol_line, field="protocol")
    return alist


def _header_problem(found: str) -> str:
    columns = found.split(",")
    missing = [c for c in COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in COLUMNS]
    if missing:
        why = f"missing column(s) {', '.join(missing)}"
    elif unknown:
        why = f"unknown column(s) {', '.join(repr(c) for c in unknown)}"
    else:
        why = "the columns are repeated or in another order"
    return f"wrong header: {why}; expected exactly {HEADER!r}, found {found!r}"


def _row(text: str, line: int, sites: set[str]) -> AllocationRow:
    if text.startswith("#"):
        raise AllocationListError("a comment line after the header (comments go before it)", line, field="(row)")
    if not text.strip():
        raise AllocationListError("an empty line among the rows", line, field="(row)")
    fields = text.split(",")
    if len(fields) != len(COLUMNS):
        raise AllocationListError(f"{len(fields)} field(s), expected {len(COLUMNS)} ({HEADER})", line, field="(row)")
    site, stratum, sequence, block, block_size, arm = fields
    if site not in sites:
        raise AllocationListError(f"site {site!r} is not in the '# sites' line ({', '.join(sorted(sites))})", line, field="site")
    if not _NAME.match(stratum):
        raise AllocationListError(f"stratum {stratum!r} is not a stratum value", line, field="stratum")
    numbers = []
    for name, value in (("sequence", sequence), ("block", block), ("block_size", block_size)):
        if not _COUNT.match(value):
            raise AllocationListError(f"{name} {value!r} is not a whole number >= 1 (digits only)", line, field=name)
        numbers.append(int(value))
    if not _ARM.match(arm):
        raise AllocationListError(f"arm {arm!r} is not an arm id", line, field="arm")
    return AllocationRow(site, stratum, numbers[0], numbers[1], numbers[2], arm)
