#!/usr/bin/env bash
# Build and test the payload services out of tree: echo-cpp (CMake + ctest) and echo-rust
# (Cargo, std only + FFI to libsecp256k1/libcrypto; cargo test). Fails on any failure.
#
#   scripts/build_services.sh --build-dir DIR
#
# Binaries: DIR/echo-cpp/echo-cpp and DIR/echo-rust/release/echo-rust.
# Needs (Debian): cmake g++ pkg-config libsecp256k1-dev libssl-dev cargo rustc
#   (`./dev setup base services` installs them).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES="$ROOT/services"

die() { printf 'build_services: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'build_services: %s\n' "$*" >&2; }

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

build_dir=""
while (($#)); do
  case "$1" in
    --build-dir)
      (($# >= 2)) || die "--build-dir needs a directory"
      build_dir="$2"
      shift 2
      ;;
    --build-dir=*) build_dir="${1#--build-dir=}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
[[ -n "$build_dir" ]] || { usage >&2; die "--build-dir DIR is required"; }
mkdir -p "$build_dir"
build_dir="$(cd "$build_dir" && pwd)"

CARGO="${CARGO:-cargo}"
missing=()
for tool in cmake c++ pkg-config "$CARGO" rustc; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
for module in libsecp256k1 libcrypto; do
  command -v pkg-config >/dev/null && ! pkg-config --exists "$module" && missing+=("$module (pkg-config)")
done
if ((${#missing[@]})); then
  die "missing: ${missing[*]}
  install them with: ./dev setup base services
  (Debian: apt-get install --no-install-recommends cmake g++ pkg-config libsecp256k1-dev libssl-dev cargo rustc)"
fi

jobs="$(nproc 2>/dev/null || echo 2)"

say "echo-cpp: configure, build, ctest in $build_dir/echo-cpp"
cmake -S "$SERVICES/echo-cpp" -B "$build_dir/echo-cpp" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DECHO_WERROR=ON >/dev/null
cmake --build "$build_dir/echo-cpp" --parallel "$jobs"
ctest --test-dir "$build_dir/echo-cpp" --output-on-failure --parallel "$jobs"

say "echo-rust: cargo test and release build in $build_dir/echo-rust"
cargo_args=(--offline --locked --manifest-path "$SERVICES/echo-rust/Cargo.toml"
  --target-dir "$build_dir/echo-rust")
"$CARGO" test "${cargo_args[@]}"
"$CARGO" build --release "${cargo_args[@]}"

for binary in "$build_dir/echo-cpp/echo-cpp" "$build_dir/echo-rust/release/echo-rust"; do
  [[ -x "$binary" ]] || die "expected binary $binary was not built"
  say "built $binary"
done
