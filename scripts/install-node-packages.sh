#!/usr/bin/env bash
# Installs what the local real node runs beside the kubelet (testkit/localcp,
# RealNodes): containerd, runc and the reference CNI plugins, from Debian's
# packages at pinned releases. Idempotent: does nothing when those releases
# are there.
#
# containerd's package ships a systemd unit; it may not run here: each node
# starts its own containerd with its own config, socket and state under the
# control plane's work directory. So the install keeps services from
# starting (policy-rc.d answers "not allowed") and stops and disables one
# that an init system started anyway.
set -euo pipefail

# Upstream releases, pinned; any Debian revision of them is taken, since
# Debian's archive keeps only the newest revision of a suite (a security
# rebuild replaces the one named here).
declare -A want=(
  [containerd]=${CONTAINERD_VERSION:-1.6.20}
  [runc]=${RUNC_VERSION:-1.1.5}
  [containernetworking-plugins]=${CNI_PLUGINS_VERSION:-1.1.1}
)

missing=()
for pkg in "${!want[@]}"; do
  installed=$(dpkg-query -W -f='${Status} ${Version}' "$pkg" 2>/dev/null || true)
  if [[ $installed != "install ok installed ${want[$pkg]}+ds"* && $installed != "install ok installed ${want[$pkg]}~ds"* ]]; then
    missing+=("$pkg")
  fi
done
if [[ ${#missing[@]} -eq 0 ]] && command -v containerd >/dev/null && command -v runc >/dev/null && [[ -x /usr/lib/cni/loopback ]]; then
  exit 0
fi

# shellcheck source=scripts/apt-no-services.sh
source "$(dirname "$0")/apt-no-services.sh"
args=()
for pkg in "${missing[@]}"; do
  v=$(apt-cache madison "$pkg" | awk -F' *[|] *' '{print $2}' | grep -E "^${want[$pkg]//./\\.}[+~]ds" | head -1 || true)
  if [[ -z $v ]]; then
    echo "install-node-packages: no Debian package of $pkg ${want[$pkg]} in the archive:" >&2
    apt-cache madison "$pkg" >&2 || true
    exit 1
  fi
  args+=("$pkg=$v")
done
echo "install-node-packages: installing ${args[*]}" >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${args[@]}"

if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  $sudo systemctl disable --now containerd >/dev/null 2>&1 || true
elif [[ -x /etc/init.d/containerd ]]; then
  $sudo /etc/init.d/containerd stop >/dev/null 2>&1 || true
fi
if command -v update-rc.d >/dev/null; then
  $sudo update-rc.d containerd disable >/dev/null 2>&1 || true
fi
# A packaged containerd left running would hold /run/containerd: say so.
if pgrep -x containerd >/dev/null; then
  echo "install-node-packages: warning: a containerd is running (pid $(pgrep -x containerd | tr '\n' ' ')); the local node starts its own" >&2
fi
containerd --version >&2
runc --version 2>&1 | head -1 >&2
