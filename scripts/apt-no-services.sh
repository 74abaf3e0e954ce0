# Sourced by the install-*.sh scripts: sets $sudo (empty for root) and
# keeps Debian's packages from starting their services while they install
# (policy-rc.d answers "not allowed"; removed again on exit if it was ours),
# then reads the package lists once. The tests and the demo start their own
# servers on loopback with their own configuration; a packaged one would
# listen where they do.
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
policy=/usr/sbin/policy-rc.d
restore_policy=""
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 0755 "$policy"
  restore_policy=1
fi
apt_no_services_cleanup() {
  if [[ -n $restore_policy ]]; then $sudo rm -f "$policy"; fi
}
trap apt_no_services_cleanup EXIT
$sudo apt-get update -qq
