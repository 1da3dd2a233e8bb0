#!/usr/bin/env bash
# Fetch real, benign, multi-megapixel photographs from Debian's wallpaper packages into
# DIR (default build/photos), for the benchmarks. Needs apt (Debian's package archive).
set -euo pipefail
dest=${1:-build/photos}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
cd "$work"
apt-get download mate-backgrounds plasma-workspace-wallpapers >/dev/null 2>&1 || {
    apt-get update -qq && apt-get download mate-backgrounds plasma-workspace-wallpapers
}
for deb in *.deb; do dpkg-deb -x "$deb" root; done
cd - >/dev/null
# Photographs only (JPEG), at least one megapixel; the packages' screenshots are skipped.
find "$work/root/usr/share/backgrounds/mate/nature" "$work/root/usr/share/wallpapers" \
    -type f -name '*.jpg' ! -name 'screenshot*' -size +100k | while read -r f; do
    cp "$f" "$dest/$(echo "$f" | md5sum | cut -c1-8)_$(basename "$f")"
done
echo "$(find "$dest" -type f | wc -l) photos in $dest"
