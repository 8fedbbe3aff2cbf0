#!/usr/bin/env bash
# Makes a MariaDB and a Kafka broker available for the tests and the local demo
# when DATABASE_URL / KAFKA_BROKERS are not set, and stops only what it started.
#
#   scripts/local-servers.sh start        ensure both; write .local/servers.env
#   scripts/local-servers.sh stop         stop what `start` started
#   scripts/local-servers.sh run CMD...   start, run CMD with the env exported, stop what it started
#
# `run` passes SIGINT/SIGTERM/SIGHUP on to CMD, exits with CMD's code, and
# leaves nothing behind even when it is killed outright (see run_child and
# guard_started_kafka).
#
# Kafka here is librdkafka's mock cluster (Debian's kcat): a real wire-protocol
# broker in one process. Its `-d mock` output is the only place it prints its
# bootstrap address, so awk keeps that one line and discards the rest: nothing
# grows on disk.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="${LOCAL_SERVERS_STATE:-$root/.local}"  # another directory keeps a second set of servers apart (tests)
mkdir -p "$state"
envfile="$state/servers.env"

log() { echo "local-servers: $*" >&2; }

apt_install() {
  if [ "${LOCAL_SERVERS_NO_INSTALL:-}" = 1 ]; then log "$1 is missing and installing is disabled"; exit 1; fi
  log "installing $1 with apt-get"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1") >"$state/apt.log" 2>&1 \
    || { log "apt-get install $1 failed, see $state/apt.log"; exit 1; }
}

mariadb_up() { mariadb-admin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1; }

ensure_mariadb() {
  if [ -n "${DATABASE_URL:-}" ]; then echo "DATABASE_URL=$DATABASE_URL" >>"$envfile"; return; fi
  if ! mariadb_up; then
    [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    echo 1 >"$state/started-mariadb"
    started_here+=(mariadb)
    for _ in $(seq 1 60); do mariadb_up && break; sleep 0.5; done
    mariadb_up || { log "MariaDB did not answer on 127.0.0.1:3306"; exit 1; }
  fi
  echo "DATABASE_URL=mysql://root@127.0.0.1:3306/spotfleet" >>"$envfile"  # tests make databases of their own
}

kcat_alive() { [ -f "$state/kcat.pid" ] && kill -0 "$(cat "$state/kcat.pid")" 2>/dev/null && [ -s "$state/kafka.addr" ]; }

ensure_kafka() {
  if [ -n "${KAFKA_BROKERS:-}" ]; then echo "KAFKA_BROKERS=$KAFKA_BROKERS" >>"$envfile"; return; fi
  if ! kcat_alive; then
    command -v kcat >/dev/null || apt_install kcat
    rm -f "$state/kafka.addr"
    log "starting librdkafka mock cluster"
    # setsid: its own process group, so `stop` kills kcat and awk together.
    setsid bash -c "exec kcat -C -b 127.0.0.1:1 -X test.mock.num.brokers=1 -d mock -t _local_servers -o end -q 2>&1 >/dev/null \
      | awk '/bootstrap.servers=/ && !done { sub(/.*bootstrap.servers=/, \"\"); print > \"$state/kafka.addr.tmp\"; close(\"$state/kafka.addr.tmp\"); system(\"mv $state/kafka.addr.tmp $state/kafka.addr\"); done=1 }'" \
      </dev/null >/dev/null 2>&1 &
    echo $! >"$state/kcat.pid"
    kcat_started=$!
    disown
    started_here+=(kafka)
    for _ in $(seq 1 100); do [ -s "$state/kafka.addr" ] && break; sleep 0.1; done
    [ -s "$state/kafka.addr" ] || { log "mock broker did not print its address"; exit 1; }
  fi
  echo "KAFKA_BROKERS=$(cat "$state/kafka.addr")" >>"$envfile"
}

started_here=()
kcat_started=

start() {
  : >"$envfile"
  ensure_mariadb
  ensure_kafka
  cat "$envfile"
}

# `start` keeps its servers up for every later run until `stop`; the mark says so.
start_kept() { start; touch "$state/kept"; }

# With an argument, only that broker: a `run` stops the one it started, not
# one a later invocation started after `stop` had taken this one away.
stop_kafka() {
  if [ -f "$state/kcat.pid" ] && { [ -z "${1:-}" ] || [ "$(cat "$state/kcat.pid")" = "$1" ]; }; then
    pid=$(cat "$state/kcat.pid")
    kill -KILL -- "-$pid" 2>/dev/null || true  # the mock broker keeps nothing worth a graceful stop
    rm -f "$state/kcat.pid" "$state/kafka.addr"
  fi
}

stop_mariadb() {
  if [ -f "$state/started-mariadb" ]; then
    start-stop-daemon --stop --oknodo --retry 30 --exec /usr/sbin/mariadbd >/dev/null || true
    rm -f "$state/started-mariadb"
  fi
}

stop() { stop_kafka; stop_mariadb; rm -f "$state/kept"; }

# `run` stops only what this invocation started, so a run that reused
# servers from `start` (or from a concurrent run) leaves them up.
stop_started_here() {
  for s in "${started_here[@]}"; do
    if [ "$s" = kafka ]; then stop_kafka "$kcat_started"; else "stop_$s"; fi
  done
}

# If this `run` is killed outright (SIGKILL: no trap runs), the broker it
# started must not outlive it and its command. A pipe is the death notice: the
# watchdog holds the read end, this shell and the command inherit the write
# end, and the kernel closes it when the last of them is gone, however it died.
# The watchdog ignores INT/TERM so a Ctrl-C to the whole group does not pull
# the broker away from a command that is still shutting down cleanly.
guard_started_kafka() {
  [[ " ${started_here[*]} " == *" kafka "* ]] || return 0
  local pid=$kcat_started
  exec 9> >(trap '' INT TERM; cat >/dev/null
    if [ "$(cat "$state/kcat.pid" 2>/dev/null)" = "$pid" ]; then
      kill -KILL -- "-$pid" 2>/dev/null; rm -f "$state/kcat.pid" "$state/kafka.addr"
    fi
    [ -z "$private_state" ] || rm -rf "$private_state")
}

# Runs the command in the background and waits, so a SIGINT/SIGTERM to this
# shell is handled at once (bash defers traps while a foreground child runs):
# it is passed on to the command, which shuts down and decides the exit code.
# The command keeps this shell's stdin (a background job would get /dev/null).
# A second signal is passed on too; the command decides what it means.
run_child() {
  "$@" <&0 &
  local child=$!
  # A command that has not stopped 30 s after the first signal is killed: a
  # shutdown that hangs (say, on a terminal that is gone) must not outlive us.
  local deadline=
  pass_on() {
    kill "-$1" "$child" 2>/dev/null
    [ -n "$deadline" ] || { (trap '' INT TERM HUP
      for _ in $(seq 30); do kill -0 "$child" 2>/dev/null || exit 0; sleep 1; done
      kill -KILL "$child" 2>/dev/null) 9>&- & deadline=$!; }
  }
  trap 'pass_on TERM' TERM
  trap 'pass_on INT' INT
  trap 'pass_on HUP' HUP
  # A parent that dies without signalling us (npm killed with SIGKILL) is
  # noticed by polling: we are re-parented, and the command is told to stop.
  # So is the end of the broker this run started (killed, or crashed): the
  # command would only retry a broker that is not coming back.
  local parent=$PPID broker=
  [[ " ${started_here[*]} " != *" kafka "* ]] || broker=$kcat_started
  (trap '' INT TERM; while kill -0 "$child" 2>/dev/null; do
     [ "$(ps -o ppid= -p $$ 2>/dev/null | tr -d ' ')" = "$parent" ] || { kill -TERM "$child" 2>/dev/null; break; }
     if [ -n "$broker" ] && ! kill -0 "$broker" 2>/dev/null; then
       # Still running after the broker was seen gone: the broker went first. Otherwise the command had ended
       # and this run's own stop took the broker away (between the two checks above): nothing to report.
       kill -0 "$child" 2>/dev/null || break
       echo "local-servers: the local broker (kcat, pid $broker) is gone; stopping the command" >&2
       : >"$state/broker-gone"; kill -TERM "$child" 2>/dev/null; break
     fi
     sleep 1; done) 9>&- &
  # wait returns early (>128) when a trapped signal arrives; the child may still run then.
  while kill -0 "$child" 2>/dev/null; do wait "$child" || true; done
  local code=0
  wait "$child" || code=$?
  # Stopped because its broker went away: a failure, however cleanly it stopped.
  if [ -e "$state/broker-gone" ]; then rm -f "$state/broker-gone"; [ "$code" -ne 0 ] || code=1; fi
  return "$code"
}

# A run uses the servers `start` keeps up; otherwise it gets a state directory
# of its own (its own broker and env file), so one run never takes another's
# broker away when it ends (`npm test` in one terminal while `npm start` runs
# in another) nor rewrites its env file. MariaDB is one server either way.
private_state=
use_private_state() {
  if [ -f "$state/kept" ] && kcat_alive; then return; fi
  private_state="$state/run.$$"
  state=$private_state
  envfile="$state/servers.env"
  mkdir -p "$state"
}

case "${1:-}" in
  start) start_kept ;;
  stop) stop ;;
  run)
    shift
    use_private_state
    start >/dev/null
    trap 'stop_started_here; [ -z "$private_state" ] || rm -rf "$private_state"' EXIT
    guard_started_kafka
    set -a; . "$envfile"; set +a
    run_child "$@"
    ;;
  *) echo "usage: $0 start|stop|run CMD..." >&2; exit 2 ;;
esac
