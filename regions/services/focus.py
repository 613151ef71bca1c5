"""Import of billing exports in the FinOps FOCUS columns (CSV)."""
from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation

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


def _when(value: str, line: int, column: str):
    parsed = parse_datetime((value or "").strip().replace(" ", "T", 1))
    if parsed is None:
        raise InvalidBillingFile(f"line {line}: {column} {value!r} is not a date-time.")
    return parsed


@transaction.atomic
def import_focus_csv(text: str) -> dict:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidBillingFile(f"Missing FOCUS column(s): {', '.join(missing)}.", details={"missing": missing})
    rows = []
    for line, row in enumerate(reader, start=2):
        try:
            cost = Decimal(row["BilledCost"] or "0")
        except InvalidOperation:
            raise InvalidBillingFile(f"line {line}: BilledCost {row['BilledCost']!r} is not a number.") from None
        rows.append(BillingRecord(
            region=(row.get("RegionId") or row.get("RegionName") or "").strip(),
            resource_type=_CATEGORY.get((row.get("ServiceCategory") or "").strip().lower(), ResourceType.OTHER),
            service_name=(row.get("ServiceName") or "")[:200], resource_id=(row.get("ResourceId") or "")[:300],
            billed_cost=cost, currency=(row["BillingCurrency"] or "USD")[:3],
            charge_period_start=_when(row["ChargePeriodStart"], line, "ChargePeriodStart"),
            charge_period_end=_when(row["ChargePeriodEnd"], line, "ChargePeriodEnd")))
    BillingRecord.objects.bulk_create(rows)
    total = sum((r.billed_cost for r in rows), Decimal(0))
    emit("region.billing_imported", {"rows": len(rows), "billedCost": str(total)})
    return {"imported": len(rows), "billed_cost": total}
