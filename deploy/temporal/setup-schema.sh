#!/bin/sh
# Create (or upgrade) Temporal's own databases in the shared PostgreSQL. Idempotent.
set -eu
tool() { temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" "$@"; }
schema=/etc/temporal/schema/postgresql/v12

tool --db temporal create || echo "database temporal exists"
tool --db temporal setup-schema -v 0.0 || echo "temporal schema already set up"
tool --db temporal update-schema -d "$schema/temporal/versioned"

tool --db temporal_visibility create || echo "database temporal_visibility exists"
tool --db temporal_visibility setup-schema -v 0.0 || echo "visibility schema already set up"
tool --db temporal_visibility update-schema -d "$schema/visibility/versioned"
