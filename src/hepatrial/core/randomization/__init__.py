"""Randomization: stratified permuted-block allocation lists (generate, write, read, verify).

Pure: the standard library only (``random.Random(seed)``, ``hashlib``). See
docs/randomization.md for the method, the file format and the concealment
rules. The list's secrecy rests on the seed and the file being kept secret:
Python's Mersenne Twister is reproducible, not cryptographic.
"""

from hepatrial.core.randomization.allocation import (
    COLUMNS,
    HEADER,
    WEAK_SEED_BELOW,
    AllocationList,
    AllocationListError,
    AllocationRow,
    check_structure,
    list_digest,
    make_list,
    reproduces,
)
from hepatrial.core.randomization.listfile import (
    parse_list,
    read_list,
    render_list,
    write_list,
)

__all__ = [
    "COLUMNS",
    "HEADER",
    "WEAK_SEED_BELOW",
    "AllocationList",
    "AllocationListError",
    "AllocationRow",
    "check_structure",
    "list_digest",
    "make_list",
    "parse_list",
    "read_list",
    "render_list",
    "reproduces",
    "write_list",
]
