#!/usr/bin/env bash
# Run every test of svcd: unit tests, and the integration tests on this machine's kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/setup-debian.sh
cargo test --workspace --all-targets
