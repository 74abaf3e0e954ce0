#!/usr/bin/env bash
# Installs Prometheus and promtool from Debian's `prometheus` package at the
# pinned version, for the observability tests and the demo
# (testkit/prometheus). Idempotent: does nothing when that version is there.
#
# The package ships an init script and a systemd unit. Neither may run here:
# tests start their own Prometheus on loopback with their own config, and a
# packaged one would hold :9090 on every interface. So the install keeps
# services from starting (policy-rc.d answers "not allowed") and, in case an
# init system started one anyway, stops and disables it afterwards.
set -euo pipefail

# Pinned to the upstream release. Debian's archive keeps only the newest
# revision of a suite (security rebuilds replace 2.42.0+ds-5+b6 by
# 2.42.0+ds-5+deb12u1, say), so any Debian revision of this release is taken,
# the one named by PROMETHEUS_DEB_VERSION when the archive still has it.
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-2.42.0}
PROMETHEUS_DEB_VERSION=${PROMETHEUS_DEB_VERSION:-2.42.0+ds-5+deb12u1}

installed=$(dpkg-query -W -f='${Status} ${Version}' prometheus 2>/dev/null || true)
if [[ $installed == "install ok installed $PROMETHEUS_VERSION+ds-"* ]] && command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi

# shellcheck source=scripts/apt-no-services.sh
source "$(dirname "$0")/apt-no-services.sh"
version=$PROMETHEUS_DEB_VERSION
if ! apt-cache madison prometheus | awk -F' *[|] *' '{print $2}' | grep -qxF "$version"; then
  version=$(apt-cache madison prometheus | awk -F' *[|] *' '{print $2}' | grep -F "$PROMETHEUS_VERSION+ds-" | head -1 || true)
  if [[ -z $version ]]; then
    echo "install-prometheus: no Debian package of prometheus $PROMETHEUS_VERSION in the archive:" >&2
    apt-cache madison prometheus >&2 || true
    exit 1
  fi
fi
echo "install-prometheus: installing Debian prometheus=$version" >&2
# Without recommends: the node exporter and its collectors are not wanted.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "prometheus=$version"

# Belt and braces against a packaged service left running.
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
elif [[ -x /etc/init.d/prometheus ]]; then
  $sudo /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi
if command -v update-rc.d >/dev/null; then
  $sudo update-rc.d prometheus disable >/dev/null 2>&1 || true
fi

prometheus --version 2>&1 | head -1 >&2
promtool --version 2>&1 | head -1 >&2
