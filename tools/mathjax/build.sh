#!/bin/sh
# Rebuilds generator/engines/mathjax_bundle.js (and its licence) from the pinned npm packages.
# Deterministic: npm ci installs exactly package-lock.json, esbuild is pinned there too and writes
# no timestamps or absolute paths, so a rerun gives the same bytes (the script checks that).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../generator/engines"
cd "$here"
# --ignore-scripts: esbuild's install script only checks its binary; nothing else needs one.
[ -d node_modules/mathjax-full ] && [ -x node_modules/.bin/esbuild ] || npm ci --ignore-scripts --no-audit --no-fund
build() {
    # iife: one script that defines the studykit* functions on globalThis; es2020 is well inside
    # what mini-racer's V8 runs; minified, because V8 parses the bundle once per process.
    ./node_modules/.bin/esbuild entry.js --bundle --format=iife --platform=neutral --target=es2020 \
        --minify --legal-comments=eof --charset=utf8 --log-level=warning --outfile="$1"
}
build "$out/mathjax_bundle.js"
build "$here/.rebuild-check.js"
cmp "$out/mathjax_bundle.js" "$here/.rebuild-check.js"
rm "$here/.rebuild-check.js"
cp node_modules/mathjax-full/LICENSE "$out/MATHJAX-LICENSE.txt"
echo "built $out/mathjax_bundle.js ($(wc -c < "$out/mathjax_bundle.js") bytes, MathJax $(node -p "require('./node_modules/mathjax-full/package.json').version"))"
