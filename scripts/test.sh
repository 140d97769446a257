#!/usr/bin/env bash
# Runs every test: installs what the suite needs, checks formatting and lints,
# builds the binaries the rig starts, and runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all -- --check
cargo fmt --manifest-path tests/nitrokey/Cargo.toml -- --check
cargo clippy --quiet --workspace --all-targets -- -D warnings
# The binaries the rig starts, with the station's test knobs (crash points,
# short certificates): the features `cargo test` unifies from firma-tests'
# dev-dependency, so the test run below reuses this build instead of
# compiling firma-station a second time.
cargo build --quiet --workspace --features firma-station-engine/test-knobs
# The Debian packages, from the dev build just made (see README, Install):
# lintian must pass; the packages test installs them in an overlay.
FIRMA_PACKAGE_PROFILE=dev ./scripts/build-packages.sh
# The rig's Nitrokey 3 card, a workspace of its own (it pulls Trussed).
./scripts/build-nitrokey.sh
CARGO_TARGET_DIR="$PWD/target/nitrokey" cargo clippy --quiet --locked \
  --manifest-path tests/nitrokey/Cargo.toml -- -D warnings
cargo test --workspace
# The station's suites once more, each station on a central PostgreSQL
# registry of the rig's own instead of its embedded SQLite file.
FIRMA_TEST_REGISTRY=postgres cargo test -p firma-tests --test station_activation \
  --test station_faults --test station_services --test station_cli --test generation_code
