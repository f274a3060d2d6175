"""One task's result items as one Parquet part, written atomically to any fsspec filesystem.

A part is named by job and task ID (``part-<job>-<task>.parquet``), so a task delivered twice
writes the same name and replaces its own part: the data set holds each ID once. No reader
ever sees a partial part under that name: on a local filesystem the part is written to a
hidden temporary name (``.`` prefix, which pyarrow, polars and DuckDB globs skip) and renamed;
on an object store it is one PUT, which is visible whole or not at all.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from typing import Any, Literal

from worker_config.contract import InputId, ResultItem

IdType = Literal["int64", "string"]
#: Columns every part has, besides the model's output fields.
ID, ERROR_TYPE, ERROR_MESSAGE, MODEL_NAME, MODEL_VERSION = (
    "id",
    "error_type",
    "error_message",
    "model_name",
    "model_version",
)
#: Parquet compression of every part: fast, and read by every Parquet reader.
COMPRESSION = "zstd"


def part_name(job_id: str, task_id: str) -> str:
    return f"part-{job_id}-{task_id}.parquet"


def join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


def id_type_of(ids: list[InputId]) -> IdType:
    """``int64`` when every ID is an integer, else ``string``: one type per job's data set."""
    return "int64" if all(isinstance(x, int) for x in ids) else "string"


def to_table(items: list[ResultItem], id_type: IdType) -> Any:
    """Items as an Arrow table: scalar output fields as columns, lists as list columns."""
    import pyarrow as pa

    ids: list[object] = []
    errors: list[str | None] = []
    messages: list[str | None] = []
    fields: dict[str, list[object]] = {}
    for row, item in enumerate(items):
        raw = item.get("id")
        error = item.get("error")
        if id_type == "int64" and not isinstance(raw, int):
            ids.append(None)  # a string ID in a job of integer IDs: kept in the message
            error = error or {"type": "InvalidId", "message": ""}
            error = {**error, "message": f"ID {raw!r}: {error.get('message', '')}"}
        else:
            ids.append(raw if id_type == "int64" else str(raw))
        errors.append(error["type"] if error else None)
        messages.append(error.get("message") if error else None)
        for key, value in (item.get("output") or {}).items():
            column = fields.setdefault(key, [None] * row)
            column.append(json.dumps(value) if isinstance(value, dict) else value)
        for column in fields.values():
            if len(column) <= row:
                column.append(None)
    models = [item.get("model") or {} for item in items]
    columns: dict[str, Any] = {ID: pa.array(ids, type=pa.int64() if id_type == "int64" else None)}
    columns.update({key: pa.array(values) for key, values in fields.items()})
    columns[ERROR_TYPE] = pa.array(errors, type=pa.string())
    columns[ERROR_MESSAGE] = pa.array(messages, type=pa.string())
    columns[MODEL_NAME] = pa.array([m.get("name") for m in models], type=pa.string())
    columns[MODEL_VERSION] = pa.array([m.get("version") for m in models], type=pa.string())
    if id_type == "string":
        columns[ID] = columns[ID].cast(pa.string())
    return pa.table(columns)


def write_part(
    sink: str, job_id: str, task_id: str, items: list[ResultItem], id_type: IdType
) -> dict[str, Any]:
    """Write the part and return its receipt: where it is, how many rows and errors."""
    import fsspec
    import pyarrow.parquet as pq

    fs, base = fsspec.core.url_to_fs(sink)
    path = join(base, part_name(job_id, task_id))
    buffer = io.BytesIO()
    pq.write_table(to_table(items, id_type), buffer, compression=COMPRESSION)
    data = buffer.getvalue()
    if _is_local(fs):
        os.makedirs(base, exist_ok=True)
        temporary = join(base, f".{part_name(job_id, task_id)}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)  # atomic on POSIX: the old part or the new, never half
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    else:
        fs.pipe_file(path, data)  # one PUT (or one multipart upload): visible only when whole
    errors = sum(1 for item in items if "error" in item)
    return {"part": fs.unstrip_protocol(path), "rows": len(items), "errors": errors}


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)
