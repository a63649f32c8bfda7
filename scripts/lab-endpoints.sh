#!/usr/bin/env bash
# Print the lab's containers and the endpoints a person can use from this machine.
set -euo pipefail
printf '\nLab hosts (docker exec -it <container> bash):\n'
printf '  %-15s %-9s %-15s %-15s %s\n' CONTAINER SITE WAN-ADDRESS SITE-ADDRESS STATE
docker ps -a --filter label=apiplatform.ha/lab=true --format '{{.Names}}' | sort | while read -r c; do
  site=$(docker inspect -f '{{ index .Config.Labels "apiplatform.ha/site" }}' "$c")
  wan=$(docker inspect -f '{{ with index .NetworkSettings.Networks "apiha-wan" }}{{ .IPAddress }}{{ end }}' "$c")
  lan=$(docker inspect -f "{{ with index .NetworkSettings.Networks \"apiha-$site\" }}{{ .IPAddress }}{{ end }}" "$c")
  state=$(docker inspect -f '{{ .State.Status }}' "$c")
  printf '  %-15s %-9s %-15s %-15s %s\n' "$c" "$site" "${wan:--}" "${lan:--}" "$state"
done
printf '\nEndpoints:\n'
for c in dc1-node1 dc2-node1 witness-node1; do
  wan=$(docker inspect -f '{{ with index .NetworkSettings.Networks "apiha-wan" }}{{ .IPAddress }}{{ end }}' "$c" 2>/dev/null || true)
  [ -n "$wan" ] && printf '  etcd client  http://%s:2379   (etcdctl --endpoints=http://%s:2379 endpoint status -w table)\n' "$wan" "$wan"
done
pg_hosts=()
for c in dc1-node1 dc1-node2 dc2-node1 dc2-node2; do
  wan=$(docker inspect -f '{{ with index .NetworkSettings.Networks "apiha-wan" }}{{ .IPAddress }}{{ end }}' "$c" 2>/dev/null || true)
  [ -n "$wan" ] || continue
  pg_hosts+=("$wan")
  printf '  Patroni REST http://%s:8008/cluster\n' "$wan"
done
if [ "${#pg_hosts[@]}" -gt 0 ]; then
  hosts=$(IFS=,; echo "${pg_hosts[*]}")
  printf '  PostgreSQL   postgresql://apifortress@%s/apifortress?target_session_attrs=read-write  (the leader, wherever it is)\n' "$hosts"
fi
printf '  Dashboard    http://172.29.1.100/ (dc1 VIP)   http://172.29.2.100/ (dc2 VIP)   reference platform, not the platform\n'
printf '  DNS          dig @172.29.0.31 app.apiha.lab   (switch-site.yml -e switch_site_to=dc2 moves it)\n'
printf '\nHealth again: make lab-health    Remove the lab: make lab-destroy\n'
