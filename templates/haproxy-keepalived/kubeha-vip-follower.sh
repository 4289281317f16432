#!/bin/bash
# kubeha-vip-follower: closes this node's connections to the VIP when the VIP changes holder.
# Installed by kubeha on every node of a haproxy-keepalived profile; settings come from the
# unit's EnvironmentFile (VIP, PORT, POLL).
#
# When the node holding the VIP vanishes, keepalived moves the VIP to another load balancer,
# but a client whose connection went to the old holder is never told: a watch stream sends
# nothing, so it waits for its own timeouts (client-go: 30 s + 15 s) while the API is up
# again. The VIP's holder shows on every node: the neighbour entry of the VIP takes the new
# holder's MAC on its gratuitous ARP (or the VIP appears on, or leaves, a local interface).
# On such a change this destroys the node's client sockets to VIP:PORT (ss -K): each client
# sees its connection end and reconnects at once, to the new holder.
#
# Event-driven (ip monitor) with a look every POLL seconds as well, so a missed event costs at
# most POLL. Logs every change on stdout (the journal). Needs bash, ip and ss (iproute2).
set -u

: "${VIP:?}" "${PORT:?}"
: "${POLL:=1}"

log() { echo "$*"; }

# Where the VIP is now: "local" when an interface of this node holds it, "mac:<lladdr>" when a
# neighbour answers for it, "" when unknown (no entry, or one that failed).
where_is_vip() {
  local line words i
  if [ -n "$(ip -o addr show to "$VIP" 2>/dev/null)" ]; then
    echo local
    return
  fi
  line=$(ip neigh show to "$VIP" 2>/dev/null | head -n 1)
  read -r -a words <<<"$line"
  for ((i = 0; i < ${#words[@]}; i++)); do
    if [ "${words[$i]}" = lladdr ] && [ -n "${words[$((i + 1))]:-}" ]; then
      case "$line" in
      *FAILED* | *INCOMPLETE*) ;;
      *) echo "mac:${words[$((i + 1))]}" && return ;;
      esac
    fi
  done
  echo ""
}

case "$VIP" in
*:*) DST="[$VIP]" ;;
*) DST="$VIP" ;;
esac

cut_connections() { # why
  local closed
  closed=$(ss -K -H -n state established dst "$DST" dport = ":$PORT" 2>/dev/null | grep -c .)
  log "the VIP $VIP moved ($1): closed ${closed:-0} connection(s) of this node to $DST:$PORT"
}

LAST=$(where_is_vip)
log "following the VIP $DST:$PORT (now ${LAST:-unknown}), looking every ${POLL}s and on every change"

look() {
  local now
  now=$(where_is_vip)
  [ -n "$now" ] || return 0 # an entry being resolved again says nothing about the holder
  if [ "$now" != "$LAST" ]; then
    [ -n "$LAST" ] && cut_connections "${LAST} -> ${now}"
    LAST=$now
  fi
}

# When stopped, take the monitor down too: it shares this process group, and a stop must never
# leave it running (it would where systemd cannot kill the whole cgroup).
trap 'trap - TERM INT EXIT; kill 0 2>/dev/null; exit 0' TERM INT EXIT
# One `ip monitor` for neighbour and address changes; any line naming the VIP triggers a look.
exec 3< <(exec ip -o monitor neigh address 2>/dev/null)
while :; do
  if IFS= read -r -t "$POLL" line <&3; then
    case "$line" in
    *"$VIP"*) look ;;
    esac
  else
    # A timeout, or the monitor ended (then the reads return at once: pace them).
    [ $? -gt 128 ] || sleep "$POLL"
    look
  fi
done
