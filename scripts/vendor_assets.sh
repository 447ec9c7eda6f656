#!/usr/bin/env bash
# Refresh the front-end assets in static/vendor/ from their npm packages (pinned below).
# The platform serves these files itself: no CDN, so it runs offline.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(htmx.org@2.0.11 @picocss/pico@2.1.1 swagger-ui-dist@5.35.0 chart.js@4.5.1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "${packages[@]}" >/dev/null)
for tgz in "$work"/*.tgz; do mkdir -p "${tgz%.tgz}" && tar xzf "$tgz" -C "${tgz%.tgz}"; done
dest=static/vendor
rm -rf "$dest/htmx" "$dest/pico" "$dest/swagger-ui" "$dest/chartjs"
mkdir -p "$dest/htmx" "$dest/pico" "$dest/swagger-ui" "$dest/chartjs"
cp "$work"/htmx.org-*/package/dist/htmx.min.js "$work"/htmx.org-*/package/LICENSE "$dest/htmx/"
cp "$work"/picocss-pico-*/package/css/pico.min.css "$work"/picocss-pico-*/package/LICENSE.md "$dest/pico/"
cp "$work"/swagger-ui-dist-*/package/{swagger-ui-bundle.js,swagger-ui-standalone-preset.js,swagger-ui.css,LICENSE} "$dest/swagger-ui/"
cp "$work"/chart.js-*/package/dist/chart.umd.js "$work"/chart.js-*/package/LICENSE.md "$dest/chartjs/"
printf '%s\n' "${packages[@]}" > "$dest/PACKAGES.txt"
echo "vendored: ${packages[*]}"
