#!/bin/sh
# Node packages the tests use (axe-core for the accessibility checks in the browser tests),
# installed from package.json + package-lock.json with npm's ordinary client.
set -e
cd "$(dirname "$0")/.."
if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's nodejs and npm for the test tools..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "The tests need npm (Node.js) to install axe-core: install nodejs and npm." >&2
    exit 1
  fi
fi
npm ci --no-audit --no-fund --loglevel=error
