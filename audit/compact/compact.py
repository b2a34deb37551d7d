"""Compacts Sluice's audit table: rewrites each event day's small Parquet files into a few large ones.

iceberg-rust 0.10.1 (which Sluice's workers use) cannot replace data files, so this runs on PyIceberg
against the same catalog. Usage (normally through `sluice audit compact`):

    compact.py --catalog-type sql --catalog-uri /path/catalog.db --warehouse file:///dir \
               --namespace sluice --table decisions_audit [--min-files 8] [--day 2024-03-01]

S3 settings: --s3-endpoint, --s3-region, --s3-path-style; credentials from the environment
(SLUICE_S3_ACCESS_KEY_ID, SLUICE_S3_SECRET_ACCESS_KEY, SLUICE_S3_SESSION_TOKEN), never argv.

Guarantees, per compacted day:
* ONE Iceberg snapshot (operation "overwrite") deletes exactly the day's data files of the current
  snapshot and adds files holding exactly their rows (the row count is checked before committing);
* that snapshot's summary carries `sluice.offsets` and `sluice.log-positions` copied unchanged from
  its parent, so a worker recovering from it sees the same committed offsets;
* when a worker commits meanwhile, the commit fails (the catalog checks the parent snapshot), and the
  day is re-read from the new current snapshot and rewritten (up to MAX_ATTEMPTS times).

Prints one JSON object on stdout: {"table", "days": [{"day", "files_before", "files_after",
"rows_before", "rows_after", "snapshot_id", "attempts"}], "skipped": [{"day", "files"}]}.
Exit code 0 on success, 1 on any error (message on stderr).
"""

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan
from pyiceberg.manifest import DataFileContent

# Same catalog name as sluice_audit::CATALOG_NAME: the SQL catalog keys rows by it.
CATALOG_NAME = "sluice"
# Snapshot summary properties a worker's recovery reads (sluice_audit::offsets).
CARRIED_PROPERTIES = ("sluice.offsets", "sluice.log-positions")
MAX_ATTEMPTS = 5
EPOCH = dt.date(1970, 1, 1)


class CompactError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(description="Compact the Sluice audit table per event day.")
    p.add_argument("--catalog-type", choices=["sql", "rest"], required=True)
    p.add_argument("--catalog-uri", required=True, help="SQLite file path (sql) or http(s) URL (rest)")
    p.add_argument("--warehouse", required=True)
    p.add_argument("--namespace", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--min-files", type=int, default=8, help="compact days with at least this many data files")
    p.add_argument("--day", help="only this event day (YYYY-MM-DD, UTC)")
    p.add_argument("--s3-endpoint")
    p.add_argument("--s3-region")
    p.add_argument("--s3-path-style", action="store_true")
    args = p.parse_args(argv)
    if args.min_files < 2:
        p.error("--min-files must be at least 2 (one file cannot be compacted)")
    if args.day is not None:
        try:
            args.day = dt.date.fromisoformat(args.day)
        except ValueError:
            p.error(f"--day {args.day!r} is not YYYY-MM-DD")
    return args


def open_catalog(args):
    props = {"warehouse": args.warehouse}
    if args.s3_region:
        props["s3.region"] = args.s3_region
    if args.s3_endpoint:
        props["s3.endpoint"] = args.s3_endpoint
    if args.s3_region or args.s3_endpoint:
        props["s3.force-virtual-addressing"] = "false" if args.s3_path_style else "true"
    for env, key in (
        ("SLUICE_S3_ACCESS_KEY_ID", "s3.access-key-id"),
        ("SLUICE_S3_SECRET_ACCESS_KEY", "s3.secret-access-key"),
        ("SLUICE_S3_SESSION_TOKEN", "s3.session-token"),
    ):
        if os.environ.get(env):
            props[key] = os.environ[env]
    if args.catalog_type == "sql":
        from pyiceberg.catalog.sql import SqlCatalog

        path = os.path.abspath(args.catalog_uri)
        if not os.path.exists(path):
            raise CompactError(f"SQL catalog {path} does not exist")
        return SqlCatalog(CATALOG_NAME, uri=f"sqlite:///{path}", **props)
    from pyiceberg.catalog.rest import RestCatalog

    return RestCatalog(CATALOG_NAME, uri=args.catalog_uri, **props)


def day_field_position(table):
    """Position of the day(event_time) field in the current partition spec."""
    spec = table.spec()
    schema = table.schema()
    for i, field in enumerate(spec.fields):
        source = schema.find_field(field.source_id).name
        if source == "event_time" and str(field.transform) == "day":
            return i
    raise CompactError(f"partition spec {spec} has no day(event_time) field")


def files_by_day(table):
    """{day number: [DataFile]} of the current snapshot (data files only)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return {}
    spec_id = table.spec().spec_id
    pos = day_field_position(table)
    out = {}
    for manifest in snapshot.manifests(table.io):
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            f = entry.data_file
            if f.content != DataFileContent.DATA:
                raise CompactError(f"{f.file_path} is a delete file; the audit table has none")
            if f.spec_id != spec_id:
                raise CompactError(f"{f.file_path} has partition spec {f.spec_id}, not the current {spec_id}")
            out.setdefault(f.partition[pos], []).append(f)
    return out


def day_filter(day_number):
    start = dt.datetime.combine(EPOCH + dt.timedelta(days=day_number), dt.time(), tzinfo=dt.timezone.utc)
    end = start + dt.timedelta(days=1)
    return And(
        GreaterThanOrEqual("event_time", start.isoformat()),
        LessThan("event_time", end.isoformat()),
    )


def pause_for_test():
    """Test hook: with SLUICE_COMPACT_PAUSE_DIR set, announce the first commit attempt by creating
    DIR/paused and wait (up to 120 s) for DIR/resume, so a test can commit in between."""
    directory = os.environ.get("SLUICE_COMPACT_PAUSE_DIR")
    if not directory:
        return
    open(os.path.join(directory, "paused"), "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(directory, "resume")):
        if time.monotonic() > deadline:
            raise CompactError(f"test pause: {directory}/resume did not appear")
        time.sleep(0.05)


def compact_day(catalog, ident, day_number, min_files):
    """Rewrites one day; returns its summary, or None when it no longer has min_files files."""
    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    for attempt in range(1, MAX_ATTEMPTS + 1):
        table = catalog.load_table(ident)
        snapshot = table.current_snapshot()
        old_files = files_by_day(table).get(day_number, [])
        if len(old_files) < min_files:
            return None
        rows_before = sum(f.record_count for f in old_files)
        data = table.scan(row_filter=day_filter(day_number), snapshot_id=snapshot.snapshot_id).to_arrow()
        if data.num_rows != rows_before:
            raise CompactError(
                f"day {EPOCH + dt.timedelta(days=day_number)}: read {data.num_rows} rows, "
                f"but its {len(old_files)} files hold {rows_before}"
            )
        data = data.sort_by([("source_partition", "ascending"), ("source_offset", "ascending")])
        carried = {k: v for k, v in snapshot.summary.additional_properties.items() if k in CARRIED_PROPERTIES}
        tx = table.transaction()
        new_files = list(
            _dataframe_to_data_files(table_metadata=tx.table_metadata, df=data, io=table.io, write_uuid=uuid.uuid4())
        )
        rows_after = sum(f.record_count for f in new_files)
        if rows_after != rows_before:
            raise CompactError(f"wrote {rows_after} rows for {rows_before}")
        with tx.update_snapshot(snapshot_properties=carried).overwrite() as overwrite:
            for f in old_files:
                overwrite.delete_data_file(f)
            for f in new_files:
                overwrite.append_data_file(f)
        if attempt == 1:
            pause_for_test()
        try:
            tx.commit_transaction()
        except CommitFailedException as e:
            # A worker appended (or another compaction ran) since we loaded: redo on its snapshot.
            # The files just written stay unreferenced (orphans), like a failed worker append's.
            print(f"compact: commit conflict on attempt {attempt}: {e}; retrying", file=sys.stderr)
            continue
        committed = catalog.load_table(ident).current_snapshot()
        return {
            "day": str(EPOCH + dt.timedelta(days=day_number)),
            "files_before": len(old_files),
            "files_after": len(new_files),
            "rows_before": rows_before,
            "rows_after": rows_after,
            "snapshot_id": committed.snapshot_id if committed else None,
            "attempts": attempt,
        }
    raise CompactError(
        f"day {EPOCH + dt.timedelta(days=day_number)}: commit still conflicting after {MAX_ATTEMPTS} attempts"
    )


def main(argv):
    args = parse_args(argv)
    catalog = open_catalog(args)
    ident = (args.namespace, args.table)
    table = catalog.load_table(ident)
    days = files_by_day(table)
    if args.day is not None:
        wanted = (args.day - EPOCH).days
        days = {d: f for d, f in days.items() if d == wanted}
    out = {"table": f"{args.namespace}.{args.table}", "days": [], "skipped": []}
    for day_number in sorted(days):
        result = compact_day(catalog, ident, day_number, args.min_files) if len(days[day_number]) >= args.min_files else None
        if result is None:
            out["skipped"].append({"day": str(EPOCH + dt.timedelta(days=day_number)), "files": len(days[day_number])})
        else:
            out["days"].append(result)
    json.dump(out, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except CompactError as e:
        print(f"compact: {e}", file=sys.stderr)
        sys.exit(1)
