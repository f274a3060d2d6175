"""Reading IDs from big files in chunks, never all at once: text, CSV or a Parquet column.

``ids.txt`` holds IDs separated by whitespace (``0-99`` ranges too); ``ids.csv`` has a header
row and the IDs in its first column or the one named after a colon (``ids.csv:input_id``);
``ids.parquet[:column]`` likewise, read one row group batch at a time.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass

from producer.id_input import parse_ids
from worker_config.contract import InputId, validate_id
from worker_config.errors import IdFileError


@dataclass(frozen=True)
class IdFile:
    """Where a job's IDs come from, recorded with the job so ``--resume`` reads them again."""

    path: str
    column: str | None = None

    @classmethod
    def parse(cls, spec: str) -> IdFile:
        """``path`` or ``path:column`` (a path that exists as given wins over the split)."""
        if os.path.exists(spec) or ":" not in spec:
            path, column = spec, None
        else:
            path, column = spec.rsplit(":", 1)
        if not os.path.exists(path):
            raise IdFileError(f"ID file {path!r} does not exist")
        return cls(os.path.abspath(path), column or None)

    @property
    def spec(self) -> str:
        return self.path + (f":{self.column}" if self.column else "")

    def chunks(self, size: int) -> Iterator[list[InputId]]:
        """Consecutive lists of ``size`` IDs (the last may be shorter), in file order."""
        chunk: list[InputId] = []
        for ids in self._pieces():
            chunk.extend(ids)
            while len(chunk) >= size:
                yield chunk[:size]
                chunk = chunk[size:]
        if chunk:
            yield chunk

    def _pieces(self) -> Iterator[list[InputId]]:
        suffix = self.path.lower().rsplit(".", 1)[-1]
        if suffix in ("parquet", "pq"):
            yield from self._parquet()
        elif suffix == "csv":
            yield from self._csv()
        else:
            with open(self.path, encoding="utf-8") as lines:
                for line in lines:
                    yield parse_ids(line.split())

    def _csv(self) -> Iterator[list[InputId]]:
        with open(self.path, encoding="utf-8", newline="") as handle:
            rows = csv.reader(handle)
            header = next(rows, [])
            index = 0
            if self.column is not None:
                if self.column not in header:
                    raise IdFileError(
                        f"{self.path} has no column {self.column!r}; its columns: {header}"
                    )
                index = header.index(self.column)
            for row in rows:
                if len(row) > index and row[index].strip():
                    yield parse_ids([row[index]])

    def _parquet(self) -> Iterator[list[InputId]]:
        import pyarrow.parquet as pq

        reader = pq.ParquetFile(self.path)
        names = reader.schema_arrow.names
        column = self.column or names[0]
        if column not in names:
            raise IdFileError(f"{self.path} has no column {column!r}; its columns: {names}")
        for batch in reader.iter_batches(batch_size=65_536, columns=[column]):
            yield [validate_id(x) for x in batch.column(0).to_pylist()]
