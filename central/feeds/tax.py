"""The tax cross-check: declarations in (CSV or JSON, validated row by row) and measured sales
against declared ones, ranked by the difference.

Pure. A declaration row is ``enterprise,period,sold_kg,value_yuan``: an enterprise id, a month
``YYYY-MM`` (China Standard Time), the declared tonnage sold in whole kilograms and its
declared value in whole yuan. Every bad row gets one error naming the row (1 = the first data
row) and the first field that is wrong; nothing is stored unless every row is good.

Ranking: by ``diff_value_yuan`` = measured value - declared value, largest first (the biggest
possible under-declaration on top), then ``diff_kg``, then enterprise id. A month without a
declaration counts as declared 0 (and says ``declared: false``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from central.feeds.efficiency import Measured
from central.feeds.model import TaxDeclaration

COLUMNS = ("enterprise", "period", "sold_kg", "value_yuan")
MAX_ROWS = 10_000
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_MAX_VALUE = 10**15


@dataclass(frozen=True, slots=True, kw_only=True)
class RowError:
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}"


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def check_row(
    row: int,
    values: Mapping[str, Any],
    *,
    known: Collection[str],
    allowed: str | None,
) -> TaxDeclaration | RowError:
    """One row's declaration, or its first error. ``allowed``: the only enterprise the caller
    may declare for (an enterprise token), ``None`` for any."""
    extra = sorted(set(values) - set(COLUMNS))
    if extra:
        return RowError(row=row, field=extra[0], message="unknown column")
    enterprise = values.get("enterprise")
    if not isinstance(enterprise, str) or not _ID.match(enterprise.strip()):
        return RowError(row=row, field="enterprise", message="missing or not an id")
    enterprise = enterprise.strip()
    if enterprise not in known:
        return RowError(row=row, field="enterprise", message=f"no enterprise {enterprise!r}")
    if allowed is not None and enterprise != allowed:
        return RowError(row=row, field="enterprise", message=f"you may declare for {allowed} only")
    period = values.get("period")
    if not isinstance(period, str) or not _MONTH.match(period.strip()):
        return RowError(row=row, field="period", message="missing or not a month YYYY-MM")
    numbers: dict[str, int] = {}
    for name in ("sold_kg", "value_yuan"):
        number = _whole(values.get(name))
        if number is None or not 0 <= number <= _MAX_VALUE:
            return RowError(row=row, field=name, message="missing or not a whole number ≥ 0")
        numbers[name] = number
    return TaxDeclaration(
        enterprise=enterprise,
        period=period.strip(),
        sold_kg=numbers["sold_kg"],
        value_yuan=numbers["value_yuan"],
    )


def check_rows(
    rows: Sequence[Mapping[str, Any]], *, known: Collection[str], allowed: str | None
) -> tuple[list[TaxDeclaration], list[RowError]]:
    """Every row checked; a (enterprise, period) given twice is an error on the second."""
    good: list[TaxDeclaration] = []
    errors: list[RowError] = []
    if not rows:
        errors.append(RowError(row=0, field="body", message="no declarations"))
    if len(rows) > MAX_ROWS:
        return [], [RowError(row=0, field="body", message=f"more than {MAX_ROWS} rows")]
    seen: dict[tuple[str, str], int] = {}
    for number, values in enumerate(rows, start=1):
        checked = check_row(number, values, known=known, allowed=allowed)
        if isinstance(checked, RowError):
            errors.append(checked)
            continue
        twice = seen.get((checked.enterprise, checked.period))
        if twice is not None:
            errors.append(
                RowError(row=number, field="period", message=f"declared already in row {twice}")
            )
            continue
        seen[(checked.enterprise, checked.period)] = number
        good.append(checked)
    return good, errors


def csv_rows(text: str) -> tuple[list[dict[str, Any]], list[RowError]]:
    """The data rows of a CSV text with the header ``enterprise,period,sold_kg,value_yuan``."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return [], [RowError(row=0, field="body", message="empty CSV")]
    names = [h.strip() for h in header]
    if sorted(names) != sorted(COLUMNS):
        return [], [
            RowError(row=0, field="header", message=f"expected the columns {','.join(COLUMNS)}")
        ]
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    for number, cells in enumerate(reader, start=1):
        if len(cells) != len(names):
            errors.append(
                RowError(row=number, field="row", message=f"{len(cells)} cells, not {len(names)}")
            )
            rows.append({})
            continue
        rows.append(dict(zip(names, cells, strict=True)))
    return rows, errors


@dataclass(frozen=True, slots=True, kw_only=True)
class TaxRow:
    enterprise: str
    period: str
    measured_kg: int
    measured_value_yuan: int
    declared: bool
    declared_kg: int
    declared_value_yuan: int
    diff_kg: int
    diff_value_yuan: int
    rank: int


def compare(
    measured: Mapping[tuple[str, str], Measured],
    declared: Sequence[TaxDeclaration],
    *,
    enterprises: Sequence[str],
    keys: Sequence[str],
) -> list[TaxRow]:
    """Rows per period in ``keys``, each period ranked (module docstring)."""
    by_key = {(d.enterprise, d.period): d for d in declared}
    out: list[TaxRow] = []
    for key in keys:
        period_rows: list[tuple[str, Measured, TaxDeclaration | None]] = [
            (e, measured.get((e, key), Measured()), by_key.get((e, key))) for e in enterprises
        ]
        period_rows = [r for r in period_rows if r[1].sold_kg or r[2] is not None]
        period_rows.sort(
            key=lambda r: (
                -(r[1].value_yuan - (r[2].value_yuan if r[2] else 0)),
                -(r[1].sold_kg - (r[2].sold_kg if r[2] else 0)),
                r[0],
            )
        )
        for rank, (enterprise, m, d) in enumerate(period_rows, start=1):
            declared_kg = d.sold_kg if d else 0
            declared_value = d.value_yuan if d else 0
            out.append(
                TaxRow(
                    enterprise=enterprise,
                    period=key,
                    measured_kg=m.sold_kg,
                    measured_value_yuan=m.value_yuan,
                    declared=d is not None,
                    declared_kg=declared_kg,
                    declared_value_yuan=declared_value,
                    diff_kg=m.sold_kg - declared_kg,
                    diff_value_yuan=m.value_yuan - declared_value,
                    rank=rank,
                )
            )
    return out
