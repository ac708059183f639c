# shellcheck shell=bash
# Pid files and owners, shared by ops/lab/lab.sh and ops/docker/engine.sh (sourced, not run).
#
# A run directory records its owner (the test process) as "PID START", START being field 22 of
# /proc/PID/stat, so that a reused pid is never taken for the owner. Processes are recorded in pid
# files and signalled only after checking that their command line contains a given text (the run
# directory, or the program), never by name. The sourcing script defines `log MESSAGE`.

proc_start() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || true; }

record_owner() { # record_owner RUN_DIR PID: writes RUN_DIR/owner ("PID START")
  echo "$2 $(proc_start "$2")" >"$1/owner"
}

alive_owner() { # alive_owner RUN_DIR: the owner recorded there still runs
  local pid start
  read -r pid start <"$1/owner" 2>/dev/null || return 1
  [[ -n $pid && -d /proc/$pid && "$(proc_start "$pid")" == "$start" ]]
}

# ours PID TEXT: PID runs and its command line contains TEXT (guards against reused PIDs).
ours() {
  [[ -n $1 && -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

stop_pidfile() { # stop_pidfile FILE TEXT WAIT_SECONDS: TERM, then KILL after WAIT_SECONDS
  local file=$1 text=$2 wait=$3 pid i
  [[ -r $file ]] || return 0
  pid=$(tr -dc 0-9 <"$file")
  if ours "$pid" "$text"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait * 10; i++)); do
      ours "$pid" "$text" || break
      sleep 0.1
    done
    if ours "$pid" "$text"; then
      log "pid $pid did not stop within ${wait}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

wait_for() { # wait_for SECONDS COMMAND...
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# watch_owner RUN_DIR PID DOWN: waits for PID to end (or RUN_DIR to go), then runs `DOWN RUN_DIR`
# if RUN_DIR is still there. The watchdog the tests leave behind them.
watch_owner() {
  local dir=$1 pid=$2 down=$3 start
  start=$(proc_start "$pid")
  while [[ -d $dir && -d /proc/$pid && "$(proc_start "$pid")" == "$start" ]]; do sleep 1; done
  if [[ -d $dir ]]; then
    log "owner $pid is gone: tearing down $(basename "$dir")"
    "$down" "$dir"
  fi
}
