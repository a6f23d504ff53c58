#!/bin/sh
# base_setup - the orchestrator's phoenix_hypervisor_feature_install_base_setup.sh: base
# packages and the en_US.UTF-8 locale. phoenix runs it inside the container (pct exec)
# only when the check in lxc.setup.base_setup fails. Fixed: the locale line was appended
# on every run; "installed" was tested by command lookup (locales and gnupg are no commands).
set -eu
export DEBIAN_FRONTEND=noninteractive
missing=""
for p in curl wget vim htop jq git rsync s-tui gnupg locales; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update
    # shellcheck disable=SC2086 # one word per package
    apt-get install -y $missing
fi
sed -i 's/^# *en_US.UTF-8 UTF-8$/en_US.UTF-8 UTF-8/' /etc/locale.gen
grep -qx 'en_US.UTF-8 UTF-8' /etc/locale.gen || echo 'en_US.UTF-8 UTF-8' >> /etc/locale.gen
locale-gen
update-locale LANG=en_US.UTF-8 LC_ALL=en_US.UTF-8
