#!/bin/bash
# Nightly base backup of the central store, kept with the WAL archive for point-in-time
# recovery, plus a logical dump (docs/operations.md "Backups"). Run as the postgres user:
#     backup.sh BACKUP_DIR [KEEP_DAYS]
# A base backup plus every archived WAL segment after it restores to any moment since; the
# dump is a second, independent copy (restorable on another major version). A backup is only
# known good once restored: restore one into a scratch server every month.
set -euo pipefail

backup_dir=${1:?usage: backup.sh BACKUP_DIR [KEEP_DAYS]}
keep_days=${2:-35}
database=${COALGATE_BACKUP_DB:-coalgate}
stamp=$(date -u +%Y%m%dT%H%M%SZ)

mkdir -p "$backup_dir/base" "$backup_dir/dump"
# -X stream: the WAL written during the backup is in it, so the backup alone is consistent.
pg_basebackup --pgdata="$backup_dir/base/$stamp" --format=tar --gzip --wal-method=stream \
    --checkpoint=fast --label="coalgate $stamp"
pg_dump --format=custom --file="$backup_dir/dump/$database-$stamp.dump" "$database"

# Retention of backups (not of data): drop base backups and dumps older than KEEP_DAYS. WAL
# segments older than the oldest kept base backup can go too (pg_archivecleanup).
find "$backup_dir/base" -mindepth 1 -maxdepth 1 -type d -mtime +"$keep_days" -exec rm -rf {} +
find "$backup_dir/dump" -name '*.dump' -mtime +"$keep_days" -delete
echo "base backup $backup_dir/base/$stamp and dump $database-$stamp.dump written"
