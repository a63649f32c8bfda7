#!/bin/sh
# keepalived notify script of apiplatform.ha.loadbalancer, installed as /usr/local/sbin/apiha-keepalived-notify.
# keepalived runs it as: <state file> INSTANCE|GROUP <name> MASTER|BACKUP|FAULT|STOP [<priority>]
# It writes the state into the state file (atomically) for status.yml and check_keepalived_vip.
set -eu
[ "$#" -ge 4 ] || { echo "usage: $0 STATE_FILE TYPE NAME STATE [PRIORITY]" >&2; exit 2; }
file=$1
state=$4
case $state in
  MASTER | BACKUP | FAULT | STOP) ;;
  *) exit 0 ;;
esac
dir=$(dirname "$file")
mkdir -p "$dir"
tmp="$file.$$"
printf '%s\n' "$state" > "$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$file"
logger -t apiha-keepalived "VRRP instance $3 is now $state" 2>/dev/null || true
