#!/bin/sh
# Run once by the postgres image when it creates the primary's data directory: lets the read
# replica (compose's postgres-replica) stream from it as the streamsite user, with a password.
# An existing primary needs the same line in its pg_hba.conf and a reload (docs/deploy.md).
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "${PGDATA}/pg_hba.conf"
