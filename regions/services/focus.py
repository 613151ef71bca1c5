"""Import of billing exports in the FinOps FOCUS columns (CSV)."""
from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.utils.dateparse import parse_datetime

from fedplane.events.services import emit

from ..choices import ResourceType
from ..errors import InvalidBillingFile
from ..models import BillingRecord

__all__ = ["import_focus_csv", "REQUIRED_COLUMNS"]

REQUIRED_COLUMNS = ("BilledCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd")
_CATEGORY = {"compute": ResourceType.COMPUTE, "storage": ResourceType.STORAGE, "networking": ResourceType.NETWORK,
             "network": ResourceType.NETWORK, "databases": ResourceType.DATABASE, "database": ResourceType.DATABASE,
             "ai and machine learning": ResourceType.TRAINING}


# billed_cost is numeric(20, 6): below 10**14 in magnitude, six decimal places.
_MAX_COST = Decimal(10) ** 14
_PLACES = Decimal("0.000001")


def _bad_row(line: int, column: str, value, why: str) -> InvalidBillingFile:
    # 422: the file is CSV with the FOCUS columns; one row's value is unusable. Nothing is imported.
    return InvalidBillingFile(f"line {line}: {column} {str(value)[:100]!r} {why}.", status=422,
                              details={"line": line, "column": column, "value": str(value)[:100]})


def _when(value: str, line: int, column: str):
    try:
        parsed = parse_datetime((value or "").strip().replace(" ", "T", 1))
    except ValueError:  # well formed but impossible (2026-02-30, hour 25)
        parsed = None
    if parsed is None:
        raise _bad_row(line, column, value, "is not a date-time")
    return parsed


def _cost(value: str | None, line: int) -> Decimal:
    """A finite amount the column can hold exactly (rounded half up to its six places), or a 422
    naming the row: 1e400, NaN or Infinity stored once made every billed summary fail."""
    raw = (value or "").strip() or "0"
    try:
        cost = Decimal(raw)
    except InvalidOperation:
        raise _bad_row(line, "BilledCost", raw, "is not a number") from None
    if not cost.is_finite():
        raise _bad_row(line, "BilledCost", raw, "is not a finite number")
    if abs(cost) >= _MAX_COST:
        raise _bad_row(line, "BilledCost", raw, f"is out of range (the magnitude must be below {_MAX_COST:.0e})")
    return cost.quantize(_PLACES, rounding=ROUND_HALF_UP)


@transaction.atomic
def import_focus_csv(text: str) -> dict:
    try:
        return _import(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:  # a NUL byte, an unterminated quote at the end
        raise InvalidBillingFile(f"Not readable as CSV: {exc}.") from None


def _import(reader: csv.DictReader) -> dict:
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidBillingFile(f"Missing FOCUS column(s): {', '.join(missing)}.", details={"missing": missing})
    rows = []
    for line, row in enumerate(reader, start=2):
        cost = _cost(row["BilledCost"], line)
        region = (row.get("RegionId") or row.get("RegionName") or "").strip()
        if len(region) > 64:
            raise _bad_row(line, "RegionId", region, "is longer than a region name (64 characters)")
        rows.append(BillingRecord(
            region=region,
            resource_type=_CATEGORY.get((row.get("ServiceCategory") or "").strip().lower(), ResourceType.OTHER),
            service_name=(row.get("ServiceName") or "")[:200], resource_id=(row.get("ResourceId") or "")[:300],
            billed_cost=cost, currency=(row["BillingCurrency"] or "USD")[:3],
            charge_period_start=_when(row["ChargePeriodStart"], line, "ChargePeriodStart"),
            charge_period_end=_when(row["ChargePeriodEnd"], line, "ChargePeriodEnd")))
    BillingRecord.objects.bulk_create(rows)
    total = sum((r.billed_cost for r in rows), Decimal(0))
    emit("region.billing_imported", {"rows": len(rows), "billedCost": str(total)})
    return {"imported": len(rows), "billed_cost": total}
