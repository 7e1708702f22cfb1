#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine: installs what is missing (a Vulkan driver, the
# Fashion-MNIST package, a Rust toolchain), then trains the default model or runs the tests.
#   scripts/dev.sh train [layerwise train flags...]   train the default preset (fmnist-quick)
#   scripts/dev.sh test  [cargo test flags...]        formatting, lints and the whole test suite, as CI runs it
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(mesa-vulkan-drivers libvulkan1 dataset-fashion-mnist ca-certificates curl xz-utils gcc)
# Headless Chromium screenshots the report in the tests. Ubuntu's apt package is only a snap wrapper.
if grep -qsE '^(ID=ubuntu|ID_LIKE=.*ubuntu)' /etc/os-release; then
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || echo "note: the report test needs Chromium: sudo snap install chromium (or set LAYERWISE_CHROMIUM)" >&2
else
  packages+=(chromium chromium-driver)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

# Mesa's loaders complain without a runtime dir; give them a private one.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/layerwise-xdg-$(id -u)"
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi

cmd="${1:-train}"
shift || true
case "$cmd" in
  train) exec cargo run --release -- train "$@" ;;
  test)
    # Style is part of the suite: formatting and lints fail it like a wrong result would.
    if command -v rustup >/dev/null 2>&1; then rustup component add rustfmt clippy >/dev/null 2>&1 || true; fi
    cargo fmt --check
    cargo clippy --release --all-targets -- -D warnings
    exec cargo test --release "$@"
    ;;
  *) echo "usage: scripts/dev.sh train|test [args...]" >&2; exit 2 ;;
esac
