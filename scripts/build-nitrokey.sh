#!/usr/bin/env bash
# Builds the rig's Nitrokey 3 card (tests/nitrokey): a workspace of its own,
# so Trussed stays out of the main lock file, built into target/nitrokey
# where the tests look for it.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target/nitrokey"
cargo build --quiet --locked --manifest-path tests/nitrokey/Cargo.toml "$@"
