#!/usr/bin/env bash
# Runs Firma on the embedded default: a private pcscd with vsmartcard's vpcd
# driver, two readers with blank virtual PIV cards (kept in $FIRMA_DEMO_DIR,
# default /tmp/firma-demo), and firma-station on them. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --quiet --workspace --bins
exec ./target/debug/firma-rig demo "$@"
