#!/bin/bash
# kubeha-ipvs-checker: keeps the IPVS virtual server VIP:PORT pointed at ready kube-apiservers
# (kubeha's equivalent of sealos' lvscare). Installed by kubeha; settings come from the unit's
# EnvironmentFile (/etc/kubeha/ipvs/checker.conf).
#
# Every INTERVAL seconds it:
#   * puts the VIP back on its dummy interface if it is gone, with the node's own address as
#     the source of local connections to it (so the masters can answer them);
#   * re-creates the virtual server (scheduler SCHEDULER) if something, e.g. kube-proxy in
#     IPVS mode, wiped it, and puts the scheduler back if it was changed (the table is looked
#     at every INTERVAL/4, at least every 0.25 s);
#   * probes https://MASTER/CHECK_PATH on every real server at once, with one curl (TIMEOUT
#     seconds; to connect, four times the slowest recent TCP + TLS connect, at least 0.25 s);
#     FALL failures in a row take a master out, RISE successes in a row bring it back; a
#     master between states is probed again after INTERVAL/4 (haproxy's fastinter);
#   * a master that still answers, but not 200 (a kube-apiserver draining before a restart
#     says 500 on /readyz while it serves every request), is quiesced first: weight 0, no new
#     connections, the established ones left to finish; it is taken out once it stops
#     answering (the drain closed its listener) or after DRAIN_GRACE seconds;
#   * makes the table hold exactly the masters that are up (and the quiesced ones at weight 0)
#     — or all of them when none is up (an empty virtual server helps nobody; as k3s learned,
#     fall back to all): then a line says so every interval and ALL_FAILING_FILE holds the
#     state (since when) for `kubeha verify`;
#   * counts as up the answers in OK_CODES (200; with health_check.auth = "alive-on-401" also
#     401 and 403), asking with the curl arguments in CHECK_AUTH (a client certificate the node
#     has, for health_check.auth = "client-cert");
#   * when it takes a master out, destroys this node's client sockets whose IPVS connection
#     goes to it (ss -K), so a watch stream waiting on a vanished master reconnects at once.
# It logs every change on stdout (the journal). Needs bash (4.2+), curl, ipvsadm, ip and ss.
set -u

: "${VIP:?}" "${PORT:?}" "${SCHEDULER:?}" "${REAL_SERVERS:?}" "${CHECK_PATH:?}"
: "${INTERVAL:=1}" "${TIMEOUT:=1}" "${FALL:=2}" "${RISE:=2}"
: "${DUMMY_INTERFACE:=kubeha-ipvs0}" "${SOURCE_ADDRESS:=}" "${DRAIN_GRACE:=30}"
: "${OK_CODES:=200}" "${CHECK_AUTH:=}" "${ALL_FAILING_FILE:=/run/kubeha/all-masters-failing}"
read -r -a AUTH_ARGS <<<"$CHECK_AUTH"
answered_up() { [[ " $OK_CODES " == *" $1 "* ]]; }

case "$VIP" in
*:*) VS="[$VIP]:$PORT" FAMILY=-6 PREFIX=128 ;;
*) VS="$VIP:$PORT" FAMILY=-4 PREFIX=32 ;;
esac
read -r -a SERVERS <<<"$REAL_SERVERS"
# Seconds (decimals allowed) to microseconds, with bash alone.
to_us() { local whole=${1%%.*} frac=${1#*.}; [ "$frac" = "$1" ] && frac=""; frac=${frac}000000; echo $((10#${whole:-0} * 1000000 + 10#${frac:0:6})); }
INTERVAL_US=$(to_us "$INTERVAL")
# A master that is gone never answers the TCP handshake: give up on it early, so a vanished
# master is out soon after its last answer. But curl's connect phase includes the TLS
# handshake, which a slow node (a loaded host, an emulated CPU) needs far more than 0.5 s for:
# a fixed 0.5 s took live masters out there. So the connect timeout adapts: four times the
# slowest successful connect (TCP + TLS) of the recent rounds, at least 0.25 s (as the session
# cutter's: a healthy node's connect takes milliseconds, so the floor rules there and a cut
# master is out in two quarter-second probes), at most TIMEOUT.
# It starts at TIMEOUT and halves its memory of a slow connect every round with an answer.
TIMEOUT_US=$(to_us "$TIMEOUT")
CONNECT_MIN_US=250000
[ "$CONNECT_MIN_US" -gt "$TIMEOUT_US" ] && CONNECT_MIN_US=$TIMEOUT_US
SLOWEST_US=$((TIMEOUT_US / 4))
us_text() { echo "$(($1 / 1000000)).$(printf '%06d' $(($1 % 1000000)))"; }
CONNECT_US=0 LOGGED_CONNECT_US=0
set_connect_timeout() {
  CONNECT_US=$((SLOWEST_US * 4))
  [ "$CONNECT_US" -lt "$CONNECT_MIN_US" ] && CONNECT_US=$CONNECT_MIN_US
  [ "$CONNECT_US" -gt "$TIMEOUT_US" ] && CONNECT_US=$TIMEOUT_US
  CONNECT_TIMEOUT=$(us_text "$CONNECT_US")
  # Logged when it moves by half or more since it was last logged.
  if [ $((CONNECT_US * 2)) -le "$LOGGED_CONNECT_US" ] || [ "$CONNECT_US" -ge $((LOGGED_CONNECT_US * 3 / 2)) ]; then
    [ "$LOGGED_CONNECT_US" -gt 0 ] && log "connect timeout now ${CONNECT_TIMEOUT}s (slowest recent connect $(us_text "$SLOWEST_US")s)"
    LOGGED_CONNECT_US=$CONNECT_US
  fi
}
set_connect_timeout
PARALLEL=()
curl --help all 2>/dev/null | grep -q -- '--parallel-immediate' && PARALLEL=(--parallel --parallel-immediate)
# STATE: up (weight 1), quiet (answering but not ready: weight 0), out (not in the table).
declare -A STATE FAILS OKS QUIET_AT
for rs in "${SERVERS[@]}"; do
  STATE[$rs]=up FAILS[$rs]=0 OKS[$rs]=0 # presumed up until FALL probes say otherwise
done
DRAIN_GRACE_US=$(to_us "$DRAIN_GRACE")
trap 'rm -f "$ALL_FAILING_FILE"; exit 0' TERM INT

log() { echo "$*"; }

ensure_vip() {
  local addrs
  if ! addrs=$(ip -o "$FAMILY" addr show dev "$DUMMY_INTERFACE" 2>/dev/null); then
    ip link add "$DUMMY_INTERFACE" type dummy && log "created interface $DUMMY_INTERFACE"
    ip link set "$DUMMY_INTERFACE" up
  fi
  if [[ "$addrs" != *" $VIP/$PREFIX "* ]]; then
    ip addr add "$VIP/$PREFIX" dev "$DUMMY_INTERFACE" && log "added VIP $VIP/$PREFIX to $DUMMY_INTERFACE"
    ip link set "$DUMMY_INTERFACE" up
  fi
  if [ -n "$SOURCE_ADDRESS" ] && [ "$FAMILY" = -6 ]; then
    ensure_source6
  elif [ -n "$SOURCE_ADDRESS" ] && [[ "$(ip "$FAMILY" route show table local "$VIP")" != *"src $SOURCE_ADDRESS"* ]]; then
    ip "$FAMILY" route replace table local local "$VIP" dev "$DUMMY_INTERFACE" proto kernel scope host src "$SOURCE_ADDRESS" &&
      log "local connections to $VIP now leave from $SOURCE_ADDRESS"
  fi
}

# IPv6 keeps the address's own local route (metric 0, its source the VIP itself, which no master
# can answer) beside any route added for the VIP, and picks it first: add kubeha's (the node's
# address as the source), then remove the kernel's. Judged by the route the kernel picks.
ensure_source6() {
  [[ "$(ip -6 route get "$VIP" 2>/dev/null)" == *"src $SOURCE_ADDRESS "* ]] && return 0
  ip -6 route replace table local local "$VIP" dev "$DUMMY_INTERFACE" proto kernel src "$SOURCE_ADDRESS" || return 0
  # Only while the kernel's is there: a delete of "metric 0" without it would take kubeha's.
  [[ "$(ip -6 route show table local "$VIP" dev "$DUMMY_INTERFACE")" == *"metric 0 "* ]] &&
    ip -6 route del table local local "$VIP" dev "$DUMMY_INTERFACE" metric 0 2>/dev/null
  [[ "$(ip -6 route get "$VIP" 2>/dev/null)" == *"src $SOURCE_ADDRESS "* ]] &&
    log "local connections to $VIP now leave from $SOURCE_ADDRESS"
}

# Reads `ipvsadm -Ln -t VS` into TABLE_SCHEDULER, TABLE_SERVERS (one string, space-separated)
# and TABLE_WEIGHT; returns 1 when the virtual server does not exist.
read_table() {
  local out line words
  TABLE_SCHEDULER="" TABLE_SERVERS=" "
  declare -gA TABLE_WEIGHT=()
  out=$(ipvsadm -Ln -t "$VS" 2>/dev/null) || return 1
  while IFS= read -r line; do
    read -r -a words <<<"$line"
    case "${words[0]:-}" in
    TCP) TABLE_SCHEDULER=${words[2]:-} ;;
    "->")
      if [ "${words[1]}" != RemoteAddress:Port ]; then
        TABLE_SERVERS+="${words[1]} "
        TABLE_WEIGHT[${words[1]}]=${words[3]:-1}
      fi
      ;;
    esac
  done <<<"$out"
}

# One curl for every master at once (--parallel): a process start is the costly part on a slow
# node. HTTP 200 is ready; anything else, or no answer within the timeouts, is a failure.
probe_all() {
  local rs code url connect args=() line slowest=0 answered=0
  declare -gA CODE=()
  for rs in "${SERVERS[@]}"; do
    args+=(-o /dev/null "https://$rs$CHECK_PATH")
    CODE[$rs]=000
  done
  while read -r url code connect; do
    rs=${url#https://}
    rs=${rs%%/*}
    [ -n "${CODE[$rs]+set}" ] && CODE[$rs]=$code
    if answered_up "$code" && [ -n "$connect" ]; then
      answered=1
      connect=$(to_us "$connect")
      [ "$connect" -gt "$slowest" ] && slowest=$connect
    fi
  done < <(curl "${PARALLEL[@]}" -gsk "${AUTH_ARGS[@]}" --connect-timeout "$CONNECT_TIMEOUT" --max-time "$TIMEOUT" \
    -w '%{url_effective} %{http_code} %{time_appconnect}\n' "${args[@]}" 2>/dev/null)
  if [ "$answered" = 1 ]; then
    SLOWEST_US=$((SLOWEST_US / 2))
    [ "$slowest" -gt "$SLOWEST_US" ] && SLOWEST_US=$slowest
    set_connect_timeout
  fi
  local now
  now=$(now_us)
  for rs in "${SERVERS[@]}"; do
    code=${CODE[$rs]}
    if answered_up "$code"; then
      OKS[$rs]=$((OKS[$rs] + 1)) FAILS[$rs]=0
      if [ "${STATE[$rs]}" != up ] && [ "${OKS[$rs]}" -ge "$RISE" ]; then
        STATE[$rs]=up
        log "$rs is ready again (${OKS[$rs]} probes in a row)"
      fi
      continue
    fi
    FAILS[$rs]=$((FAILS[$rs] + 1)) OKS[$rs]=0
    case "${STATE[$rs]}" in
    up)
      [ "${FAILS[$rs]}" -ge "$FALL" ] || continue
      if [ "$code" = 000 ]; then
        STATE[$rs]=out
        log "$rs failed ${FAILS[$rs]} probes in a row (no answer)"
      else
        STATE[$rs]=quiet QUIET_AT[$rs]=$now
        log "$rs failed ${FAILS[$rs]} probes in a row (last: HTTP $code, it still answers): no new connections to it, the open ones left to finish"
      fi
      ;;
    quiet)
      if [ "$code" = 000 ]; then
        STATE[$rs]=out
        log "$rs stopped answering"
      elif [ $((now - QUIET_AT[$rs])) -ge "$DRAIN_GRACE_US" ]; then
        STATE[$rs]=out
        log "$rs still not ready after ${DRAIN_GRACE}s (HTTP $code)"
      fi
      ;;
    esac
  done
}

# A connection already open through the VIP stays pinned to its master: the kernel forgets it
# once the master is out of the table, but a client that waits on a watch stream sends nothing
# and never learns, so it would wait for the master to come back. Its socket is on this node
# (the VIP is local): destroy it and the client reconnects to a live master at once. The
# connection list is read before the master is removed (removing it drops its entries).
# One ss destroys them all (an entry in TIME_WAIT or CLOSE has no socket left to destroy): a
# process per connection cost a slow node (an emulated CPU) a second or more each, so the last
# stream closed, and the journal said so, seconds after the master was out.
# An established connection whose socket is already gone (closed by its client, or reset by
# the kernel once IPVS forgot the connection) is counted apart: the journal says who closed it.
cut_sessions() { # rs connection-list
  local _pro _expire state src vs dst filter=() established=0 out cut gone
  while read -r _pro _expire state src vs dst; do
    [ "$vs" = "$VS" ] && [ "$dst" = "$1" ] || continue
    case "$state" in TIME_WAIT | CLOSE) continue ;; esac
    [ "$state" = ESTABLISHED ] && established=$((established + 1))
    filter+=(${filter[0]+or} src "$src")
  done <<<"$2"
  [ ${#filter[@]} -gt 0 ] || return 0
  out=$(ss -K -t -H -n dst "$VS" '(' "${filter[@]}" ')' 2>/dev/null)
  cut=$(grep -c . <<<"$out")
  gone=$((established - $(grep -c '^ESTAB' <<<"$out")))
  [ "$cut" -gt 0 ] && log "closed $cut local connection(s) to $1"
  [ "$gone" -gt 0 ] && log "$gone local connection(s) to $1 had no socket left to close"
  return 0
}

reconcile() {
  local want=() rs conns weight
  declare -A WANT_WEIGHT=()
  if ! read_table; then
    if ipvsadm -A -t "$VS" -s "$SCHEDULER"; then
      log "virtual server $VS was missing: created it (scheduler $SCHEDULER)"
      TABLE_SCHEDULER=$SCHEDULER
    else
      log "could not create virtual server $VS"
      return 1
    fi
  fi
  if [ "$TABLE_SCHEDULER" != "$SCHEDULER" ]; then
    ipvsadm -E -t "$VS" -s "$SCHEDULER" && log "virtual server $VS: scheduler set back to $SCHEDULER"
  fi
  for rs in "${SERVERS[@]}"; do
    [ "${STATE[$rs]}" = up ] && want+=("$rs") && WANT_WEIGHT[$rs]=1
  done
  if [ ${#want[@]} -eq 0 ]; then
    # Every master failed: keep them all rather than none; but one that gives no answer at all
    # while another still answers (a vanished host while etcd elects: the others say 500) is
    # out anyway.
    for rs in "${SERVERS[@]}"; do
      [ "${STATE[$rs]}" != out ] && want+=("$rs") && WANT_WEIGHT[$rs]=1
    done
    if [ ${#want[@]} -eq 0 ]; then
      want=("${SERVERS[@]}")
      for rs in "${SERVERS[@]}"; do WANT_WEIGHT[$rs]=1; done
    fi
    if [ "$ALL_DOWN" = 0 ]; then
      ALL_DOWN=$(date -u +%Y-%m-%dT%H:%M:%SZ)
      mkdir -p "${ALL_FAILING_FILE%/*}" &&
        echo "every master (${#SERVERS[@]}) fails its check since $ALL_DOWN: all kept in $VS" >"$ALL_FAILING_FILE.new" &&
        mv -f "$ALL_FAILING_FILE.new" "$ALL_FAILING_FILE"
    fi
    if [ "$(now_us)" -ge "$ALL_DOWN_LOGGED_US" ]; then
      log "WARNING: every real server fails its probe since $ALL_DOWN: keeping all of them in $VS, nothing cut"
      ALL_DOWN_LOGGED_US=$(($(now_us) + INTERVAL_US))
    fi
  else
    if [ "$ALL_DOWN" != 0 ]; then
      rm -f "$ALL_FAILING_FILE"
      log "a real server passes its probe again (every one failed since $ALL_DOWN)"
    fi
    ALL_DOWN=0
    for rs in "${SERVERS[@]}"; do
      [ "${STATE[$rs]}" = quiet ] && want+=("$rs") && WANT_WEIGHT[$rs]=0
    done
  fi
  for rs in "${want[@]}"; do
    weight=${WANT_WEIGHT[$rs]}
    if [[ "$TABLE_SERVERS" != *" $rs "* ]]; then
      ipvsadm -a -t "$VS" -r "$rs" -m -w "$weight" && log "added real server $rs to $VS (weight $weight)"
    elif [ "${TABLE_WEIGHT[$rs]:-1}" != "$weight" ]; then
      ipvsadm -e -t "$VS" -r "$rs" -m -w "$weight" && log "real server $rs: weight $weight"
    fi
  done
  for rs in $TABLE_SERVERS; do
    if [[ " ${want[*]} " != *" $rs "* ]]; then
      conns=$(ipvsadm -Lnc 2>/dev/null)
      ipvsadm -d -t "$VS" -r "$rs" && log "removed real server $rs from $VS" && cut_sessions "$rs" "$conns"
    fi
  done
}

now_us() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t)); }

log "watching $VS: real servers ${SERVERS[*]}, every ${INTERVAL}s, timeout ${TIMEOUT}s (connect ${CONNECT_TIMEOUT}s at first, then adapting), fall $FALL, rise $RISE"
ALL_DOWN=0 ALL_DOWN_LOGGED_US=0
rm -f "$ALL_FAILING_FILE"
ensure_vip
reconcile # every master presumed up: the virtual server serves before the first probe ends
# A master between states (failed or answered once, not yet FALL or RISE times) is probed again
# after a quarter interval, as haproxy's fastinter does: a dead master is out sooner.
in_transition() {
  local rs
  for rs in "${SERVERS[@]}"; do
    { [ "${STATE[$rs]}" = up ] && [ "${FAILS[$rs]}" -gt 0 ]; } && return 0
    { [ "${STATE[$rs]}" != up ] && [ "${OKS[$rs]}" -gt 0 ]; } && return 0
    [ "${STATE[$rs]}" = quiet ] && return 0 # its listener's close is seen sooner
  done
  return 1
}

pause_us() { # microseconds; a TERM ends the sleep at once
  sleep "$(($1 / 1000000)).$(printf '%06d' $(($1 % 1000000)))" &
  wait $!
}

FAST_US=$((INTERVAL_US / 4))
# Between rounds the table is looked at every quarter interval (at least every 0.25 s): a
# virtual server that something wiped is back well within one interval.
SLICE_US=$((INTERVAL_US / 4))
[ "$SLICE_US" -lt 250000 ] && SLICE_US=250000
while :; do
  started=$(now_us)
  ensure_vip
  reconcile
  probe_all
  reconcile
  next=$INTERVAL_US
  in_transition && next=$FAST_US
  left=$((next - ($(now_us) - started)))
  while [ "$left" -gt "$SLICE_US" ]; do
    pause_us "$SLICE_US"
    reconcile
    left=$((next - ($(now_us) - started)))
  done
  [ "$left" -lt 50000 ] && left=50000
  pause_us "$left"
done
