#!/bin/sh
# Bundles the page script with PKI.js into ../assets/browser.js, the file
# the portal embeds and serves. The versions are pinned in package.json and
# package-lock.json; run this after changing browser.js or them, and commit
# the bundle with them (the portal's build needs no Node.js).
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent
mkdir -p ../assets
npx esbuild browser.js --bundle --format=iife --target=chrome100,firefox100,safari15 \
    --minify --legal-comments=eof --outfile=../assets/browser.js
