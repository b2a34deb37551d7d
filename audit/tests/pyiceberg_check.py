"""Reads Sluice's audit table with PyIceberg, a client Sluice did not write.

Usage: pyiceberg_check.py [--snapshot-id N] CATALOG_DB WAREHOUSE TABLE TXN_ID...

Prints one JSON object: the row count (by a full scan, not from metadata), the offsets in the
current snapshot's summary, the row count as of --snapshot-id, and the sampled rows by txn id
(event_time as epoch milliseconds, so it compares exactly with the Rust side).
"""

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import In

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_ms(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - EPOCH) // timedelta(milliseconds=1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("catalog_db")
    parser.add_argument("warehouse")
    parser.add_argument("table")
    parser.add_argument("--snapshot-id", type=int)
    parser.add_argument("txn_ids", nargs="*")
    args = parser.parse_args()

    # Same catalog name as sluice_audit::CATALOG_NAME: the SQL catalog keys rows by it.
    catalog = SqlCatalog(
        "sluice", uri=f"sqlite:///{args.catalog_db}", warehouse=args.warehouse
    )
    table = catalog.load_table(args.table)

    out = {
        "row_count": table.scan().to_arrow().num_rows,
        "offsets": json.loads(
            table.current_snapshot().summary.additional_properties.get("sluice.offsets", "{}")
        ),
        "partition_spec": str(table.spec()),
        "rows": {},
    }
    if args.snapshot_id is not None:
        out["row_count_as_of_snapshot"] = (
            table.scan(snapshot_id=args.snapshot_id).to_arrow().num_rows
        )
    if args.txn_ids:
        rows = table.scan(row_filter=In("txn_id", args.txn_ids)).to_arrow().to_pylist()
        for row in rows:
            row["event_time"] = to_ms(row["event_time"])
            out["rows"][row["txn_id"]] = row
    json.dump(out, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
