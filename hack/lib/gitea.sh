# shellcheck shell=bash
# The gitea component of hack/stack: Gitea (git server, API and OCI
# registry) built from source, run with sqlite on 127.0.0.1:$GITEA_HTTP_PORT.
# Its data (database, repositories, packages, admin password and access
# token) lives in $GITEA_STATE and survives `down`.

GITEA_BIN=$INCLUSTER_BIN/gitea-$GITEA_VERSION
GITEA_STATE=$INCLUSTER_STATE/gitea
GITEA_CONFIG=$GITEA_STATE/app.ini
GITEA_ADMIN=incluster

# Gitea refuses to run as root unless app.ini's root section sets
# I_AM_BEING_UNSAFE_RUNNING_AS_ROOT or this variable does (for commands
# run before app.ini exists). The stack runs as the calling user, which in
# CI and containers is often root.
export GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true

# gitea_binary_ok: true when the cached binary reports GITEA_VERSION.
gitea_binary_ok() {
	[ -x "$GITEA_BIN" ] || return 1
	"$GITEA_BIN" --version 2>/dev/null | grep -q "version $GITEA_VERSION "
}

# gitea_build builds Gitea the way its own Makefile does for a release
# (bindata, static), from the module that the Go module proxy serves.
# `go install` cannot build it because Gitea's go.mod has replace lines.
gitea_build() {
	gitea_binary_ok && return 0
	command -v go >/dev/null 2>&1 || die "go is missing: install Go 1.26 and run again"
	need_cmd git git

	local module dir src start
	module=code.gitea.io/gitea@v$GITEA_VERSION
	log "building Gitea $GITEA_VERSION into $GITEA_BIN (once; about 10 minutes on 2 cores)"
	start=$(date +%s)
	# Outside any module, so that the download never touches a go.mod.
	dir=$(cd / && GOTOOLCHAIN=local GOFLAGS='' go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$dir" ] && [ -d "$dir" ] || die "downloading $module failed; check GOPROXY ($(go env GOPROXY))"

	# The module cache is read-only and `go generate` writes into the tree.
	# Each build gets its own copy, so two instances can build at once.
	mkdir -p "$INCLUSTER_CACHE/src" "$INCLUSTER_BIN"
	src=$(mktemp -d "$INCLUSTER_CACHE/src/gitea-$GITEA_VERSION.XXXXXX")
	cp -r "$dir/." "$src"
	chmod -R u+w "$src"
	(
		cd "$src"
		export GOTOOLCHAIN=local CGO_ENABLED=0
		# `&&` because errexit is off inside the `||` below.
		go generate -tags bindata ./modules/options ./modules/templates ./modules/public ./modules/migration &&
			go build -tags bindata -trimpath -ldflags "-s -w -X main.Version=$GITEA_VERSION" -o "$GITEA_BIN.tmp.$$" .
	) >&2 || die "building Gitea $GITEA_VERSION failed (sources kept in $src)"
	mv "$GITEA_BIN.tmp.$$" "$GITEA_BIN"
	rm -rf "$src"
	gitea_binary_ok || die "$GITEA_BIN does not report version $GITEA_VERSION"
	log "built Gitea $GITEA_VERSION in $(($(date +%s) - start))s"
}

# gitea_cli ARGS...: runs a Gitea command against the stack's config.
gitea_cli() {
	GITEA_WORK_DIR=$GITEA_STATE "$GITEA_BIN" --config "$GITEA_CONFIG" --work-path "$GITEA_STATE" "$@"
}

# gitea_secrets generates the instance secrets once. They must stay stable
# across restarts because Gitea encrypts stored data with SECRET_KEY.
gitea_secrets() {
	local file=$GITEA_STATE/secrets
	[ -s "$file" ] && return 0
	(
		umask 077
		{
			echo "GITEA_SECRET_KEY=$("$GITEA_BIN" generate secret SECRET_KEY)"
			echo "GITEA_INTERNAL_TOKEN=$("$GITEA_BIN" generate secret INTERNAL_TOKEN)"
			echo "GITEA_JWT_SECRET=$("$GITEA_BIN" generate secret JWT_SECRET)"
			echo "GITEA_LFS_JWT_SECRET=$("$GITEA_BIN" generate secret JWT_SECRET)"
		} >"$file.tmp"
	)
	mv "$file.tmp" "$file"
}

# gitea_write_config writes app.ini for the current port. Every setting
# that makes Gitea reach another host is off: the update checker, mirrors,
# migrations, federation, avatars from Gravatar or Libravatar, OpenID, the
# mailer, the "Have I Been Pwned" password check and Actions (whose default
# action URL is github.com). Webhooks may only target loopback and private
# addresses. Gitea 1.27 has no OFFLINE_MODE setting any more: its avatar
# part is DISABLE_GRAVATAR, and the web assets are bundled (bindata).
# PUBLIC_URL_DETECTION keeps its default "auto", so the registry's token
# realm follows the request's Host header and clients that reach Gitea at
# another address (containers in the engine) get a realm they can reach.
gitea_write_config() {
	# shellcheck disable=SC1091
	. "$GITEA_STATE/secrets"
	(
		umask 077
		cat >"$GITEA_CONFIG.tmp" <<EOF
; Written by hack/stack at every start; edits are lost.
APP_NAME = incluster
RUN_MODE = prod
RUN_USER = $(id -un)
WORK_PATH = $GITEA_STATE
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $GITEA_HTTP_PORT
DOMAIN = 127.0.0.1
ROOT_URL = http://127.0.0.1:$GITEA_HTTP_PORT/
APP_DATA_PATH = $GITEA_STATE/data
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
LFS_JWT_SECRET = $GITEA_LFS_JWT_SECRET
ENABLE_PPROF = false

[database]
DB_TYPE = sqlite3
PATH = $GITEA_STATE/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[security]
INSTALL_LOCK = true
SECRET_KEY = $GITEA_SECRET_KEY
INTERNAL_TOKEN = $GITEA_INTERNAL_TOKEN
PASSWORD_CHECK_PWN = false

[oauth2]
JWT_SECRET = $GITEA_JWT_SECRET

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false
ENABLE_NOTIFY_MAIL = false
ENABLE_CAPTCHA = false
DEFAULT_KEEP_EMAIL_PRIVATE = true
NO_REPLY_ADDRESS = noreply.localhost

[repository]
ROOT = $GITEA_STATE/repositories
DEFAULT_BRANCH = main
DISABLE_MIGRATIONS = true
ENABLE_PUSH_CREATE_USER = true
ENABLE_PUSH_CREATE_ORG = true

[packages]
ENABLED = true

[log]
MODE = console
LEVEL = Info
ROOT_PATH = $GITEA_STATE/log

[mailer]
ENABLED = false

[picture]
DISABLE_GRAVATAR = true
ENABLE_FEDERATED_AVATAR = false

[openid]
ENABLE_OPENID_SIGNIN = false
ENABLE_OPENID_SIGNUP = false

[federation]
ENABLED = false

[mirror]
ENABLED = false

[migrations]
ALLOW_LOCALNETWORKS = false

[webhook]
ALLOWED_HOST_LIST = loopback,private

[actions]
ENABLED = false
DEFAULT_ACTIONS_URL = self

[proxy]
PROXY_ENABLED = false

[cron.update_checker]
ENABLED = false

[cron.update_mirrors]
ENABLED = false
EOF
	)
	mv "$GITEA_CONFIG.tmp" "$GITEA_CONFIG"
}

# gitea_admin creates the admin user once, with a random password kept in
# $GITEA_STATE/password for logging in to the web UI.
gitea_admin() {
	local password
	if gitea_cli admin user list --admin 2>/dev/null | awk 'NR > 1 {print $2}' | grep -qx "$GITEA_ADMIN"; then
		return 0
	fi
	password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
	(umask 077 && printf '%s\n' "$password" >"$GITEA_STATE/password")
	gitea_cli admin user create --username "$GITEA_ADMIN" --password "$password" \
		--email "$GITEA_ADMIN@noreply.localhost" --admin --must-change-password=false \
		>>"$INCLUSTER_LOGS/gitea.log" 2>&1 ||
		die "creating the Gitea admin $GITEA_ADMIN failed; see $INCLUSTER_LOGS/gitea.log"
	log "created Gitea admin $GITEA_ADMIN (password in $GITEA_STATE/password)"
}

# gitea_api_ok PATH: true when GET PATH succeeds with the stored token.
# The token goes to curl on stdin, never on its command line.
gitea_api_ok() {
	local file=$GITEA_STATE/token
	[ -s "$file" ] || return 1
	printf 'Authorization: token %s\n' "$(cat "$file")" |
		curl -fsS -o /dev/null -H @- "http://127.0.0.1:$GITEA_HTTP_PORT$1" 2>/dev/null
}

# gitea_token keeps a working token, or creates one with every scope. The
# token name carries the time because names must be unique per user.
gitea_token() {
	local file=$GITEA_STATE/token token
	gitea_api_ok /api/v1/user && return 0
	[ -s "$file" ] && log "the stored Gitea token is rejected; creating a new one"
	token=$(gitea_cli admin user generate-access-token --username "$GITEA_ADMIN" \
		--token-name "stack-$(date +%Y%m%d%H%M%S)-$$" --scopes all --raw 2>>"$INCLUSTER_LOGS/gitea.log") ||
		die "creating a Gitea access token failed; see $INCLUSTER_LOGS/gitea.log"
	(umask 077 && printf '%s\n' "$token" >"$file.tmp")
	mv "$file.tmp" "$file"
	gitea_api_ok /api/v1/user || die "the new Gitea access token is rejected by http://127.0.0.1:$GITEA_HTTP_PORT/api/v1/user"
}

gitea_start() {
	need_cmd git git
	need_cmd curl curl
	gitea_binary_ok || die "$GITEA_BIN is missing or not version $GITEA_VERSION; run 'hack/stack build'"
	pid_check_stale gitea
	pid_alive gitea && die "gitea is already running (PID $(pid_of gitea))"
	check_port GITEA_HTTP_PORT
	port_free "$GITEA_HTTP_PORT" GITEA_HTTP_PORT

	mkdir -p "$GITEA_STATE/data" "$GITEA_STATE/log" "$INCLUSTER_LOGS"
	chmod 700 "$GITEA_STATE"
	gitea_secrets
	gitea_write_config
	gitea_cli migrate >>"$INCLUSTER_LOGS/gitea.log" 2>&1 ||
		die "migrating the Gitea database failed; see $INCLUSTER_LOGS/gitea.log"
	gitea_admin

	start_bg gitea env GITEA_WORK_DIR="$GITEA_STATE" "$GITEA_BIN" --config "$GITEA_CONFIG" --work-path "$GITEA_STATE" web
	echo "$GITEA_HTTP_PORT" >"$INCLUSTER_STATE/gitea.port"
	if ! wait_for "Gitea on 127.0.0.1:$GITEA_HTTP_PORT" 60 gitea_healthy; then
		tail -n 20 "$INCLUSTER_LOGS/gitea.log" >&2
		die "Gitea did not become ready on http://127.0.0.1:$GITEA_HTTP_PORT within 60s; see $INCLUSTER_LOGS/gitea.log"
	fi
	gitea_token
	log "Gitea $GITEA_VERSION is up on http://127.0.0.1:$GITEA_HTTP_PORT (PID $(pid_of gitea))"
}

gitea_healthy() {
	pid_alive gitea || return 1
	curl -fsS -o /dev/null "http://127.0.0.1:$GITEA_HTTP_PORT/api/healthz"
}

gitea_stop() {
	stop_pid gitea
	rm -f "$INCLUSTER_STATE/gitea.port"
}

gitea_status() {
	gitea_use_recorded_port
	gitea_healthy
}

# gitea_use_recorded_port sets GITEA_HTTP_PORT to the port that the running
# instance recorded, so that `env` and `status` need only INCLUSTER_STATE.
gitea_use_recorded_port() {
	local file=$INCLUSTER_STATE/gitea.port
	if [ -s "$file" ] && pid_alive gitea; then
		GITEA_HTTP_PORT=$(cat "$file")
	fi
}

gitea_env() {
	gitea_use_recorded_port
	print_export INCLUSTER_GITEA_URL "http://127.0.0.1:$GITEA_HTTP_PORT"
	print_export INCLUSTER_GITEA_USER "$GITEA_ADMIN"
	print_export INCLUSTER_GITEA_TOKEN_FILE "$GITEA_STATE/token"
	print_export INCLUSTER_REGISTRY "127.0.0.1:$GITEA_HTTP_PORT"
}
