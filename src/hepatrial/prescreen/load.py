"""Copy a folder of Parquet tables (an OMOP extract, a flat lab table) into a PostgreSQL
schema, to pre-screen it there (``hepatrial prescreen run --database ... --schema ...``).
Used by the tests and the benchmark; each table is replaced."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq


def _pg_type(arrow_type: pa.DataType) -> str:
    checks = ((pa.types.is_timestamp, "TIMESTAMP"), (pa.types.is_date, "DATE"), (pa.types.is_boolean, "BOOLEAN"),
              (pa.types.is_integer, "BIGINT"), (pa.types.is_floating, "DOUBLE PRECISION"),
              (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "TEXT"))  # fmt: skip
    for check, name in checks:
        if check(arrow_type):
            return name
    raise ValueError(f"no PostgreSQL type for the Arrow type {arrow_type}")


def load_folder(url: str, folder: str | Path, schema: str, batch_rows: int = 200_000) -> dict[str, int]:
    """Every ``*.parquet`` of ``folder`` as a table of ``schema`` (created if needed); rows per table."""
    import psycopg

    counts: dict[str, int] = {}
    with psycopg.connect(url) as con:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for path in sorted(Path(folder).glob("*.parquet")):
            file = pq.ParquetFile(path)
            name = f'"{schema}"."{path.stem}"'
            columns = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in file.schema_arrow)
            con.execute(f"DROP TABLE IF EXISTS {name}")
            con.execute(f"CREATE TABLE {name} ({columns})")
            names = ", ".join(f'"{f.name}"' for f in file.schema_arrow)
            total = 0
            # CSV text in batches: an empty field is NULL, an empty string is written quoted
            options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
            with con.cursor().copy(f"COPY {name} ({names}) FROM STDIN (FORMAT csv)") as copy:
                for batch in file.iter_batches(batch_size=batch_rows):
                    buffer = io.BytesIO()
                    pa_csv.write_csv(batch, buffer, options)
                    copy.write(buffer.getvalue())
                    total += batch.num_rows
            con.execute(f"ANALYZE {name}")
            counts[path.stem] = total
    return counts
