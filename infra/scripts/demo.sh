#!/usr/bin/env bash
# The main job on the embedded defaults (SQLite event store under ./.hallwatch):
# load the sample catalogue, ingest the sample intake records, show a flagged case,
# verify every hash chain.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec hallwatch demo "$@"
