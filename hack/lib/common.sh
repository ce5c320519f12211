# shellcheck shell=bash
# Shared paths, versions and helpers for hack/stack and hack/test.
# Sourced, never run. Every component file (gitea.sh, netns.sh, engine.sh,
# images.sh) defines COMPONENT_build, COMPONENT_start, COMPONENT_stop,
# COMPONENT_status and COMPONENT_env on top of these helpers.

# Pinned versions. Cached binaries are named after them, so changing a
# version here makes the next `up` build the new one and keep the old.
GITEA_VERSION=${GITEA_VERSION:-1.27.3}
DAGGER_VERSION=${DAGGER_VERSION:-v0.19.2}

# Binaries are cached per version under INCLUSTER_CACHE. Runtime state
# (PID files, logs, Gitea data, the engine socket) lives under
# INCLUSTER_STATE. `down` removes the PID files and keeps logs and Gitea's
# data.
INCLUSTER_CACHE=${INCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/incluster}
INCLUSTER_STATE=${INCLUSTER_STATE:-$INCLUSTER_CACHE/state}
# Relative folders become absolute, so that `env` exports paths that work
# from any directory.
[[ $INCLUSTER_CACHE == /* ]] || INCLUSTER_CACHE=$PWD/$INCLUSTER_CACHE
[[ $INCLUSTER_STATE == /* ]] || INCLUSTER_STATE=$PWD/$INCLUSTER_STATE
INCLUSTER_BIN=$INCLUSTER_CACHE/bin
INCLUSTER_LOGS=$INCLUSTER_STATE/logs

# Host-side addresses. Everything listens on 127.0.0.1.
GITEA_HTTP_PORT=${GITEA_HTTP_PORT:-3000}

# Name of the private network namespace that stands for the cluster
# network. A second stack instance (another INCLUSTER_STATE and port) must
# also set another INCLUSTER_NETNS, so that the two never share one.
INCLUSTER_NETNS=${INCLUSTER_NETNS:-incluster}

log() { printf 'stack: %s\n' "$*" >&2; }
warn() { printf 'stack: warning: %s\n' "$*" >&2; }
die() {
	printf 'stack: error: %s\n' "$*" >&2
	exit 1
}

# apt_install PACKAGE: installs a Debian package, running apt-get update
# once per process first (INCLUSTER_APT_UPDATED=1 skips it).
apt_install() {
	local pkg=$1
	log "installing $pkg"
	if [ -z "${INCLUSTER_APT_UPDATED:-}" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed; install $pkg by hand"
		INCLUSTER_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2 ||
		die "missing package $pkg: apt-get install $pkg failed; install it by hand and run again"
}

# need_cmd CMD APT_PACKAGE: installs the Debian package that provides CMD
# (a command name or an absolute path) when CMD is missing, and fails
# with the package name when apt cannot.
need_cmd() {
	local cmd=$1 pkg=$2
	command -v "$cmd" >/dev/null 2>&1 && return 0
	[ -x "$cmd" ] && return 0
	apt_install "$pkg"
	command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || die "package $pkg is installed but $cmd is still missing"
}

# need_file FILE APT_PACKAGE: like need_cmd, for a data file such as the
# CA bundle or the time zone database.
need_file() {
	local file=$1 pkg=$2
	[ -e "$file" ] && return 0
	apt_install "$pkg"
	[ -e "$file" ] || die "package $pkg is installed but $file is still missing"
}

# port_free PORT VARIABLE: fails, naming the process that listens on PORT
# (on any address) and the VARIABLE that picks another port.
port_free() {
	local port=$1 var=$2 owner
	need_cmd ss iproute2
	owner=$(ss -Hltnp "sport = :$port" 2>/dev/null | awk '{print $4, $6}' | head -n 1)
	[ -z "$owner" ] || die "port $port is already taken ($owner); stop that process or set $var to a free port"
}

# A PID file holds the PID on its first line and the process's start time
# (field 22 of /proc/PID/stat, in clock ticks since boot) on its second.
# The start time distinguishes the started process from another one that
# got the same PID later (after a reboot, for example), so that `down`
# never signals the wrong process.

# pid_start_time PID: prints the start time of process PID.
pid_start_time() {
	# The command name in field 2 may contain spaces, so count from ")".
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'
}

# pid_of NAME: prints the PID recorded in $INCLUSTER_STATE/NAME.pid.
pid_of() {
	head -n 1 "$INCLUSTER_STATE/$1.pid" 2>/dev/null
}

# pid_alive NAME: true when $INCLUSTER_STATE/NAME.pid names a live process
# with the recorded start time (a file without one matches any).
pid_alive() {
	local file=$INCLUSTER_STATE/$1.pid pid started
	[ -f "$file" ] || return 1
	pid=$(pid_of "$1")
	started=$(sed -n 2p "$file")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	[ -z "$started" ] || [ "$(pid_start_time "$pid")" = "$started" ]
}

# pid_check_stale NAME: removes a PID file whose process is gone, with a
# message, so that `up` after a crash starts cleanly.
pid_check_stale() {
	local file=$INCLUSTER_STATE/$1.pid
	if [ -f "$file" ] && ! pid_alive "$1"; then
		log "removing stale PID file $file (process $(pid_of "$1") is not running)"
		rm -f "$file"
	fi
}

# start_bg NAME CMD...: starts CMD in the background with its output in
# $INCLUSTER_LOGS/NAME.log and records its PID in $INCLUSTER_STATE/NAME.pid.
# setsid does not fork here (the script's children lead no process
# group), so the recorded PID is CMD's own.
start_bg() {
	local name=$1 pid
	shift
	mkdir -p "$INCLUSTER_LOGS"
	setsid "$@" >>"$INCLUSTER_LOGS/$name.log" 2>&1 </dev/null &
	pid=$!
	printf '%s\n%s\n' "$pid" "$(pid_start_time "$pid")" >"$INCLUSTER_STATE/$name.pid"
}

# stop_pid NAME: stops the process recorded for NAME with SIGTERM, then
# SIGKILL after 10 seconds, and removes its PID file. A stale PID file is
# only removed.
stop_pid() {
	local name=$1 file=$INCLUSTER_STATE/$1.pid pid _
	[ -f "$file" ] || return 0
	pid=$(pid_of "$name")
	if pid_alive "$name"; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "$name (PID $pid) did not stop after 10s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	else
		log "removing stale PID file $file (process $pid is not running)"
	fi
	rm -f "$file"
}

# wait_for DESCRIPTION SECONDS CMD...: runs CMD every 0.2s until it
# succeeds, and fails with a message naming DESCRIPTION after SECONDS.
wait_for() {
	local what=$1 seconds=$2 _
	shift 2
	for _ in $(seq 1 $((seconds * 5))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	log "timed out after ${seconds}s waiting for $what"
	return 1
}

# check_port VARIABLE: fails unless the variable named VARIABLE contains a
# TCP port, an integer from 1 to 65535 without leading zeros.
check_port() {
	local var=$1 value=${!1-}
	if [[ $value =~ ^[1-9][0-9]{0,4}$ ]] && ((value <= 65535)); then
		return 0
	fi
	die "$var=$(printf %q "$value") is not a port: set it to an integer from 1 to 65535"
}

# print_export NAME VALUE: prints a shell line that exports NAME with
# VALUE, quoted so that eval restores any value.
print_export() {
	printf 'export %s=%q\n' "$1" "$2"
}
