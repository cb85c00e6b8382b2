#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (lavapipe) from Debian bookworm-backports into a private, versioned folder,
# without root: onnxruntime-node's WebGPU provider then runs on a CPU (Bookworm's own Mesa 22.3 lacks what Dawn needs).
#   $SIMCLR_CACHE/lavapipe/<mesa version>/root/        the unpacked packages (dpkg -x)
#   $SIMCLR_CACHE/lavapipe/<mesa version>/env.sh       VK_DRIVER_FILES and LD_LIBRARY_PATH, to source before node starts
#   $SIMCLR_CACHE/lavapipe/<mesa version>/env.json     the same two variables, for tests that spawn node with them
#   $SIMCLR_CACHE/lavapipe/<mesa version>/packages.txt what was unpacked (package=version)
# apt-get runs against a private sources list, dpkg status (empty: the package set does not depend on what this host
# has installed) and cache, so nothing under /etc or /var changes; apt checks the archive's signatures and each
# package's hash. The C runtime (libc6, libgcc-s1, libstdc++6) is never unpacked: the host's is used.
# A warm run (the folder is there) only prints its path.
#
# Usage: scripts/lavapipe.sh [--force]      prints the folder holding env.sh / env.json
# Environment: SIMCLR_CACHE (default $HOME/.cache/simclr-k8s)
set -euo pipefail

MESA_VERSION=25.0.7-2~bpo12+1      # mesa-vulkan-drivers from bookworm-backports (needs libdrm >= 2.4.121, also there)
BASE_PACKAGES="libc6 libgcc-s1 libstdc++6 gcc-12-base"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

CACHE=${SIMCLR_CACHE:-$HOME/.cache/simclr-k8s}
DEST=$CACHE/lavapipe/${MESA_VERSION//[~+]/-}
FORCE=0
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    -h|--help) sed -n 2,15p "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "lavapipe.sh: unknown argument $arg (expected --force)" >&2; exit 2 ;;
  esac
done

if [ "$FORCE" = 0 ] && [ -f "$DEST/env.json" ]; then echo "$DEST"; exit 0; fi
for tool in apt-get apt-cache dpkg; do
  command -v $tool >/dev/null || { echo "lavapipe.sh: $tool not found (a Debian bookworm host is needed)" >&2; exit 1; }
done
[ -f "$KEYRING" ] || { echo "lavapipe.sh: $KEYRING missing: install debian-archive-keyring" >&2; exit 1; }

mkdir -p "$CACHE/lavapipe"
exec 9>"$CACHE/lavapipe/.lock"   # one install at a time per cache folder
flock 9
if [ "$FORCE" = 0 ] && [ -f "$DEST/env.json" ]; then echo "$DEST"; exit 0; fi

WORK=$(mktemp -d "$CACHE/lavapipe/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/etc/sources.list.d" "$WORK/etc/preferences.d" "$WORK/state/lists/partial" "$WORK/cache/archives/partial" "$WORK/debs"
: >"$WORK/status"
for suite in bookworm bookworm-updates bookworm-backports; do
  echo "deb [signed-by=$KEYRING] http://deb.debian.org/debian $suite main"
done >"$WORK/etc/sources.list"
echo "deb [signed-by=$KEYRING] http://deb.debian.org/debian-security bookworm-security main" >>"$WORK/etc/sources.list"
# Backports are never candidates by default: take Mesa at its pinned version and libdrm (which it needs) from there.
cat >"$WORK/etc/preferences.d/lavapipe" <<EOF
Package: mesa-vulkan-drivers
Pin: version $MESA_VERSION
Pin-Priority: 990

Package: libdrm2 libdrm-common libdrm-amdgpu1
Pin: release n=bookworm-backports
Pin-Priority: 990
EOF
APT_OPTS=(-q -o "Dir::Etc::SourceList=$WORK/etc/sources.list" -o "Dir::Etc::SourceParts=$WORK/etc/sources.list.d"
  -o "Dir::Etc::Preferences=$WORK/etc/preferences.d/lavapipe" -o "Dir::Etc::PreferencesParts=$WORK/etc/preferences.d"
  -o "Dir::State=$WORK/state" -o "Dir::State::status=$WORK/status" -o "Dir::Cache=$WORK/cache" -o Debug::NoLocking=1)

apt-get "${APT_OPTS[@]}" update >"$WORK/update.log" 2>&1 || { cat "$WORK/update.log" >&2; echo "lavapipe.sh: apt-get update failed (is deb.debian.org reachable?)" >&2; exit 1; }
candidate=$(apt-cache "${APT_OPTS[@]}" policy mesa-vulkan-drivers | awk '/Candidate:/ { print $2 }')
[ "$candidate" = "$MESA_VERSION" ] || { echo "lavapipe.sh: mesa-vulkan-drivers $MESA_VERSION is not in bookworm-backports (candidate: ${candidate:-none}); update MESA_VERSION" >&2; exit 1; }

# The driver's run-time closure (no recommends), less the C runtime.
mapfile -t packages < <(apt-cache "${APT_OPTS[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances mesa-vulkan-drivers | grep -v '^ ' | grep -v '^<' | sort -u)
wanted=()
for p in "${packages[@]}"; do [[ " $BASE_PACKAGES " == *" $p "* ]] || wanted+=("$p"); done
(cd "$WORK/debs" && apt-get "${APT_OPTS[@]}" download "${wanted[@]}" >"$WORK/download.log" 2>&1) || { cat "$WORK/download.log" >&2; echo "lavapipe.sh: apt-get download failed" >&2; exit 1; }

mkdir -p "$WORK/out/root"
for deb in "$WORK"/debs/*.deb; do
  dpkg -x "$deb" "$WORK/out/root"
  dpkg-deb -f "$deb" Package Version | paste -sd= | sed 's/Package: //; s/Version: //' >>"$WORK/out/packages.txt"
done
grep -qx "mesa-vulkan-drivers=$MESA_VERSION" "$WORK/out/packages.txt" || { echo "lavapipe.sh: mesa-vulkan-drivers $MESA_VERSION was not downloaded" >&2; exit 1; }

# The ICD names its driver relative to the system's library folder: point it at the unpacked one.
icd=$(find "$WORK/out/root" -name 'lvp_icd*.json' | head -n 1)
lib=$(find "$WORK/out/root" -name 'libvulkan_lvp.so' | head -n 1)
[ -n "$icd" ] && [ -n "$lib" ] || { echo "lavapipe.sh: lvp_icd.json or libvulkan_lvp.so missing from mesa-vulkan-drivers" >&2; exit 1; }
final_root=$DEST/root
sed -i "s|\"library_path\": *\"[^\"]*\"|\"library_path\": \"$final_root/${lib#"$WORK/out/root/"}\"|" "$icd"
libdirs=$(find "$WORK/out/root" -name '*.so*' -printf '%h\n' | sort -u | sed "s|^$WORK/out/root|$final_root|" | grep -v '/dri$' | paste -sd:)

# Every library the driver and the loader need must resolve, with these folders first.
missing=$(LD_LIBRARY_PATH=${libdirs//$final_root/$WORK/out/root} ldd "$lib" "$(find "$WORK/out/root" -name 'libvulkan.so.1' | head -n 1)" | grep 'not found' || true)
[ -z "$missing" ] || { echo "lavapipe.sh: libraries not found for lavapipe:" >&2; echo "$missing" >&2; exit 1; }

icd_final=$final_root/${icd#"$WORK/out/root/"}
printf '{ "VK_DRIVER_FILES": "%s", "LD_LIBRARY_PATH": "%s" }\n' "$icd_final" "$libdirs" >"$WORK/out/env.json"
printf 'export VK_DRIVER_FILES=%q\nexport LD_LIBRARY_PATH=%q${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\n' "$icd_final" "$libdirs" >"$WORK/out/env.sh"
rm -rf "$DEST"
mv "$WORK/out" "$DEST"
echo "lavapipe.sh: installed $(wc -l <"$DEST/packages.txt") packages ($(du -sh "$DEST" | cut -f1)) into $DEST" >&2
echo "$DEST"
