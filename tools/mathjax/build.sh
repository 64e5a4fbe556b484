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
version=$(node -p "require('./node_modules/mathjax-full/package.json').version")
build() {
    # iife: one script that defines the studykit* functions on globalThis; minified, because V8
    # parses the bundle once per process. entry.js imports MathJax's TypeScript sources (shipped
    # in the npm package) rather than its ES5 build: compiled to es2020 (native classes, for-of,
    # spread; well inside what mini-racer's V8 runs) it typesets ~1.6x faster. MathJax's classes
    # rely on TypeScript's old field semantics, hence useDefineForClassFields false.
    ./node_modules/.bin/esbuild entry.js --bundle --format=iife --platform=neutral --target=es2020 \
        --tsconfig-raw='{"compilerOptions":{"useDefineForClassFields":false}}' \
        --banner:js="// MathJax $version (mathjax-full), TeX to SVG for studykit: built by tools/mathjax/build.sh" \
        --minify --legal-comments=eof --charset=utf8 --log-level=warning --outfile="$1"
}
build "$out/mathjax_bundle.js"
build "$here/.rebuild-check.js"
cmp "$out/mathjax_bundle.js" "$here/.rebuild-check.js"
rm "$here/.rebuild-check.js"
cp node_modules/mathjax-full/LICENSE "$out/MATHJAX-LICENSE.txt"
echo "built $out/mathjax_bundle.js ($(wc -c < "$out/mathjax_bundle.js") bytes, MathJax $version)"
