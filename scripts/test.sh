#!/usr/bin/env bash
# Runs every test: installs what the suite needs, checks formatting and lints,
# builds the binaries the rig starts, and runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --quiet --workspace --all-targets -- -D warnings
cargo build --quiet --workspace
cargo test --workspace
