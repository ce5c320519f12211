# Shared paths, versions and helpers for hack/stack and hack/test.
# Sourced, never run. Every component file (gitea.sh, netns.sh, engine.sh,
# images.sh) defines COMPONENT_build, COMPONENT_start, COMPONENT_stop,
# COMPONENT_status and COMPONENT_env on top of these helpers.

# Pinned versions. Cached binaries are named after them, so changing a
# version here makes the next `up` build the new one and keep the old.
GITEA_VERSION=${GITEA_VERSION:-1.27.3}
DAGGER_VERSION=${DAGGER_VERSION:-v0.21.8}

# Binaries are cached per version under INCLUSTER_CACHE. Runtime state
# (PID files, logs, Gitea data, the engine socket) lives under
# INCLUSTER_STATE and is removed by `down`, except Gitea's data.
INCLUSTER_CACHE=${INCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/incluster}
INCLUSTER_STATE=${INCLUSTER_STATE:-$INCLUSTER_CACHE/state}
INCLUSTER_BIN=$INCLUSTER_CACHE/bin
INCLUSTER_LOGS=$INCLUSTER_STATE/logs

# Host-side addresses. Everything listens on 127.0.0.1.
GITEA_HTTP_PORT=${GITEA_HTTP_PORT:-3000}

log() { printf 'stack: %s\n' "$*" >&2; }
die() {
	printf 'stack: error: %s\n' "$*" >&2
	exit 1
}

# need_cmd CMD APT_PACKAGE: installs the Debian package that provides CMD
# when CMD is missing, and fails with the package name when apt cannot.
need_cmd() {
	local cmd=$1 pkg=$2
	command -v "$cmd" >/dev/null 2>&1 && return 0
	[ -x "$cmd" ] && return 0
	log "installing $pkg (for $cmd)"
	if [ -z "${INCLUSTER_APT_UPDATED:-}" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed; install $pkg by hand"
		INCLUSTER_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2 ||
		die "missing package $pkg: apt-get install $pkg failed; install it by hand and run again"
	command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || die "package $pkg is installed but $cmd is still missing"
}

# port_free PORT: fails with the owner of PORT when something listens on it.
port_free() {
	local port=$1 owner
	owner=$(ss -Hltnp "sport = :$port" 2>/dev/null || true)
	[ -z "$owner" ] || die "port 127.0.0.1:$port is already taken: $owner; stop that process or set the port variable to a free one"
}

# pid_alive NAME: true when $INCLUSTER_STATE/NAME.pid names a live process.
pid_alive() {
	local file=$INCLUSTER_STATE/$1.pid pid
	[ -f "$file" ] || return 1
	pid=$(cat "$file")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# pid_check_stale NAME: removes a PID file whose process is gone, with a
# message, so that `up` after a crash starts cleanly.
pid_check_stale() {
	local file=$INCLUSTER_STATE/$1.pid
	if [ -f "$file" ] && ! pid_alive "$1"; then
		log "removing stale PID file $file (process $(cat "$file") is not running)"
		rm -f "$file"
	fi
}

# start_bg NAME CMD...: starts CMD in the background with its output in
# $INCLUSTER_LOGS/NAME.log and records its PID in $INCLUSTER_STATE/NAME.pid.
start_bg() {
	local name=$1
	shift
	mkdir -p "$INCLUSTER_LOGS"
	setsid "$@" >>"$INCLUSTER_LOGS/$name.log" 2>&1 </dev/null &
	echo $! >"$INCLUSTER_STATE/$name.pid"
}

# stop_pid NAME: stops the process recorded for NAME with SIGTERM, then
# SIGKILL after 10 seconds, and removes its PID file.
stop_pid() {
	local name=$1 file=$INCLUSTER_STATE/$1.pid pid i
	[ -f "$file" ] || return 0
	pid=$(cat "$file")
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "$name (PID $pid) did not stop after 10s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$file"
}

# wait_for DESCRIPTION SECONDS CMD...: runs CMD every 0.2s until it
# succeeds, and fails after SECONDS with DESCRIPTION.
wait_for() {
	local what=$1 seconds=$2 i
	shift 2
	for i in $(seq 1 $((seconds * 5))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
