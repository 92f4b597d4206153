# Copyright 2026 The V2Xum Authors. Licensed under the Apache License, Version 2.0.
"""Checks for the files a user hands in (training rows, predictions rows): every error names the file, the line or
row, the field and the value, and is raised before any work or output starts."""

import json
import math
import os


class RowError(ValueError):
    """A row of a user's file is malformed. The message reads `<file> line <n>: '<field>' = <value>: <problem>`."""

    def __init__(self, where: str, field: str, value, problem: str):
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        super().__init__(f"{where}: '{field}' = {shown}: {problem}")
        self.where, self.field, self.value = where, field, value


def read_rows(path: str | os.PathLike) -> list[tuple[str, object]]:
    """`(where, row)` for each row of a JSON list file or a JSON lines file (blank lines skipped); `where` is
    `"<path> item <n>"` or `"<path> line <n>"`. A line that is not JSON is named with the parser's reason."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read().removeprefix(b"\xef\xbb\xbf")  # a byte-order mark is not part of the first row
    if data.lstrip().startswith(b"["):
        try:
            return [(f"{path} item {n}", row) for n, row in enumerate(json.loads(data.decode("utf-8")))]
        except ValueError:
            pass  # JSON lines whose first row is a list (or a broken file): read line by line below
    rows = []
    for n, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"{path} line {n}: not UTF-8 text (byte {error.start}): {raw[:40]!r}") from error
        if line.strip():
            try:
                rows.append((f"{path} line {n}", json.loads(line)))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} line {n}: not a JSON object ({error.msg}): {line[:60]!r}") from error
            except ValueError as error:  # e.g. an integer of thousands of digits
                raise ValueError(f"{path} line {n}: not a usable JSON row ({error}): {line[:60]!r}") from error
    return rows


def check_object(row, where: str) -> dict:
    if not isinstance(row, dict):
        raise RowError(where, "(row)", row, "each row must be a JSON object")
    return row


def check_text(row: dict, key: str, where: str, required: bool = True, choices=None, field: str | None = None):
    """`row[key]`, a string (`None` allowed when not `required`), one of `choices` when given; errors call it
    `field` (default: `key`)."""
    value, field = row.get(key), field or key
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise RowError(where, field, value, "must be " + ("a non-empty string" if required else "a string or null"))
    if choices is not None and value not in choices:
        raise RowError(where, field, value, f"must be one of {tuple(choices)}")
    return value


def check_number(
    value, where: str, field: str, minimum: float | None = None, maximum: float | None = None, integer: bool = False
) -> float:
    """A finite number (not a bool, not a string) in `[minimum, maximum]`; an int when `integer`."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise RowError(where, field, value, "must be " + ("an integer" if integer else "a number"))
    if not math.isfinite(value):
        raise RowError(where, field, value, "must be finite")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise RowError(where, field, value, f"must be in [{minimum}, {maximum}]")
    return value


def check_list(row: dict, key: str, where: str, required: bool = False, field: str | None = None) -> list:
    """`row[key]`, a list (missing or null is an empty list unless `required`); errors call it `field`."""
    value, field = row.get(key), field or key
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise RowError(where, field, value, "must be a " + ("non-empty " if required else "") + "list")
    return value


__all__ = ["RowError", "read_rows", "check_object", "check_text", "check_number", "check_list"]
