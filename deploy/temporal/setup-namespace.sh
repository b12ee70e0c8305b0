#!/bin/sh
# Create the namespace and the Keyword search attributes TopicWorkflow sets. Idempotent.
set -eu
address="${TEMPORAL_ADDRESS:-temporal:7233}"
namespace="${LINGTI_TEMPORAL_NAMESPACE:-default}"

tries=0
until temporal operator cluster health --address "$address"; do
  tries=$((tries + 1))
  [ "$tries" -lt 30 ] || { echo "Temporal at $address is not healthy" >&2; exit 1; }
  sleep 2
done

temporal operator namespace describe --address "$address" -n "$namespace" >/dev/null 2>&1 \
  || temporal operator namespace create --address "$address" -n "$namespace" --retention 30d

for name in TopicState TopicOrg TopicCategory; do
  if temporal operator search-attribute list --address "$address" -n "$namespace" | grep -qw "$name"; then
    echo "search attribute $name exists"
  else
    temporal operator search-attribute create --address "$address" -n "$namespace" --name "$name" --type Keyword
  fi
done
