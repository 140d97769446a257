#!/usr/bin/env bash
# Benchmarks the virtual card through the full PC/SC path (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --quiet --release --workspace
./scripts/build-nitrokey.sh
export FIRMA_BIN_DIR="$PWD/target/release"
cargo bench -p firma-tests --bench vcard_path "$@"
cargo bench -p firma-tests --bench piv_client "$@"
cargo bench -p firma-tests --bench pkcs11_modules "$@"
cargo bench -p firma-tests --bench station "$@"
cargo bench -p firma-tests --bench portal "$@"
