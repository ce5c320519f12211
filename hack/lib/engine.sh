# The engine component of hack/stack: a Dagger engine of the pinned
# version, built from source (hack/engine) and run directly on the host
# inside the stack's network namespace (netns.sh), with a private mount
# namespace (hack/engine/run-engine). The CLI reaches it through a unix
# socket under $INCLUSTER_STATE/engine.
#
# Go SDK modules load their runtime from an OCI image in the engine's
# builtin content folder, which hack/sdkimage assembles from this machine's
# Go toolchain, so no registry is needed for it.

ENGINE_BIN=$INCLUSTER_BIN/dagger-$DAGGER_VERSION
ENGINE_STATE=$INCLUSTER_STATE/engine
ENGINE_SOCK=$ENGINE_STATE/engine.sock
CNI_PLUGIN_DIR=/usr/lib/cni

# engine_binaries_current: true when every binary of the pinned version is
# cached and the CLI reports that version.
engine_binaries_current() {
	local b
	for b in dagger-engine dagger dagger-init dnsname codegen; do
		[ -x "$ENGINE_BIN/$b" ] || return 1
	done
	"$ENGINE_BIN/dagger" version 2>/dev/null | grep -q "^dagger $DAGGER_VERSION "
}

# engine_build_binaries builds the engine, the CLI, dagger-init, dnsname
# and codegen from the wrapper module hack/engine, about 13 minutes on two
# busy cores, and caches them in $ENGINE_BIN.
engine_build_binaries() {
	local module=$ROOT/hack/engine tmp ldflags
	if engine_binaries_current; then
		return 0
	fi
	grep -Eq "^[[:space:]]*github.com/dagger/dagger $DAGGER_VERSION\$" "$module/go.mod" ||
		die "hack/engine/go.mod does not require github.com/dagger/dagger $DAGGER_VERSION; pin the same version in hack/engine/go.mod and DAGGER_VERSION"
	log "building the Dagger engine and CLI $DAGGER_VERSION (about 13 minutes the first time)"
	tmp=$ENGINE_BIN.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	ldflags="-s -w -X github.com/dagger/dagger/engine.Version=$DAGGER_VERSION -X github.com/dagger/dagger/engine.Tag=$DAGGER_VERSION"

	(cd "$module" && GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
		github.com/dagger/dagger/cmd/engine \
		github.com/dagger/dagger/cmd/init \
		github.com/dagger/dagger/cmd/dnsname \
		github.com/dagger/dagger/cmd/codegen) || die "building the Dagger engine $DAGGER_VERSION failed"
	mv "$tmp/engine" "$tmp/dagger-engine"
	mv "$tmp/init" "$tmp/dagger-init"
	engine_build_cli "$tmp" "$ldflags"

	rm -rf "$ENGINE_BIN"
	mv "$tmp" "$ENGINE_BIN"
	engine_binaries_current || die "the built dagger CLI does not report version $DAGGER_VERSION"
}

# engine_build_cli DIR LDFLAGS builds the dagger CLI into DIR. The CLI
# queries registry.dagger.io for the newest engine version on every
# command, and no setting turns that off. So the CLI is built from a copy of the
# module's source in which that check reports no update; the copy replaces
# the module through an alternate go.mod file (go build -modfile), which
# leaves hack/engine/go.mod and the module cache untouched.
engine_build_cli() {
	local dir=$1 ldflags=$2 module=$ROOT/hack/engine src copy=$INCLUSTER_CACHE/build/dagger-src-$DAGGER_VERSION
	src=$(cd "$module" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' github.com/dagger/dagger) ||
		die "finding the source of github.com/dagger/dagger failed"
	rm -rf "$copy"
	mkdir -p "$(dirname "$copy")"
	cp -r "$src" "$copy"
	chmod -R u+w "$copy"
	sed -i 's|^\tif engine.IsDevVersion(engine.Version) {$|\tif true { // no update check in the local stack|' "$copy/cmd/dagger/version.go"
	grep -q 'no update check in the local stack' "$copy/cmd/dagger/version.go" ||
		die "turning off the CLI's update check failed: $copy/cmd/dagger/version.go has changed; update the pattern in hack/lib/engine.sh"

	cp "$module/go.mod" "$dir/cli.mod"
	cp "$module/go.sum" "$dir/cli.sum"
	printf '\nreplace github.com/dagger/dagger => %s\n' "$copy" >>"$dir/cli.mod"
	(cd "$module" && GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 go build -modfile "$dir/cli.mod" -trimpath \
		-ldflags "$ldflags" -o "$dir/dagger" github.com/dagger/dagger/cmd/dagger) ||
		die "building the dagger CLI $DAGGER_VERSION failed"
	rm -f "$dir/cli.mod" "$dir/cli.sum"
	rm -rf "$copy"
}

# engine_cluster_goproxy prints the GOPROXY URL as containers see it.
engine_cluster_goproxy() {
	echo "http://$CLUSTER_GOPROXY_NAME:$INCLUSTER_GOPROXY_PORT"
}

# engine_sdk_key prints what the Go SDK image is built from: the Dagger
# and Go versions, the module proxy address baked into the image and the
# source of hack/sdkimage.
engine_sdk_key() {
	echo "$DAGGER_VERSION $(GOTOOLCHAIN=local go env GOVERSION) $(engine_cluster_goproxy) $(find "$ROOT/hack/sdkimage" -name '*.go' ! -name '*_test.go' | sort | xargs cat | sha256sum | cut -c1-16)"
}

# engine_set_content sets ENGINE_CONTENT, the folder of the Go SDK image.
# The folder is named after a hash of its inputs, so a stack with other
# inputs (another instance, a changed hack/sdkimage) builds a folder of
# its own and never replaces the blobs a running engine reads.
# NOTE: folders of older inputs stay in $INCLUSTER_CACHE (about 230 MB
# each) until removed by hand.
engine_set_content() {
	[ -n "${ENGINE_CONTENT:-}" ] && return 0
	ENGINE_SDK_KEY=$(engine_sdk_key)
	ENGINE_CONTENT=$INCLUSTER_CACHE/go-sdk-content-$DAGGER_VERSION-$(echo "$ENGINE_SDK_KEY" | sha256sum | cut -c1-12)
}

# engine_build_sdk_image assembles the Go SDK runtime image into
# $ENGINE_CONTENT, unless it is there already.
engine_build_sdk_image() {
	local out
	engine_set_content
	if [ -f "$ENGINE_CONTENT/go-sdk-manifest-digest" ] && [ "$(cat "$ENGINE_CONTENT/key" 2>/dev/null)" = "$ENGINE_SDK_KEY" ]; then
		return 0
	fi
	log "assembling the Go SDK runtime image (about 3 minutes)"
	(cd "$ROOT" && GOTOOLCHAIN=local go build -o "$INCLUSTER_BIN/sdkimage" ./hack/sdkimage) || die "building hack/sdkimage failed"
	out=$("$INCLUSTER_BIN/sdkimage" -out "$ENGINE_CONTENT" -codegen "$ENGINE_BIN/codegen" \
		-goproxy "$(engine_cluster_goproxy)" -sdk-version "$DAGGER_VERSION" \
		2>>"$INCLUSTER_LOGS/sdkimage.log") ||
		die "assembling the Go SDK image failed (log: $INCLUSTER_LOGS/sdkimage.log)"
	log "Go SDK image: $out"
	echo "$ENGINE_SDK_KEY" >"$ENGINE_CONTENT/key"
}

engine_build() {
	need_cmd runc runc
	need_cmd dnsmasq dnsmasq-base
	need_cmd iptables iptables
	need_cmd "$CNI_PLUGIN_DIR/bridge" containernetworking-plugins
	need_cmd busybox busybox-static
	need_cmd nsenter util-linux
	mkdir -p "$INCLUSTER_BIN" "$INCLUSTER_LOGS"
	engine_build_binaries
	engine_build_sdk_image
}

engine_start() {
	local etc=$ENGINE_STATE/etc cni=$ENGINE_STATE/cni plugin
	engine_set_content
	[ -f "$ENGINE_CONTENT/go-sdk-manifest-digest" ] || { log "the Go SDK image is missing from $ENGINE_CONTENT; 'hack/stack build' assembles it"; return 1; }
	pid_check_stale engine
	if pid_alive engine; then
		log "stopping the engine (PID $(pid_of engine)), which runs without its socket $ENGINE_SOCK"
		stop_pid engine
	fi
	netns_exists || { log "network namespace $INCLUSTER_NETNS is missing; the netns component starts it"; return 1; }
	mkdir -p "$ENGINE_STATE/root"
	rm -f "$ENGINE_SOCK"

	# A private /etc, because the engine writes /etc/dnsmasq-resolv.conf and
	# mounts over /etc/resolv.conf. Its dnsmasq resolves containers'
	# queries from /etc/hosts, which maps the cluster names (netns.sh).
	rm -rf "$etc"
	cp -a /etc "$etc"
	rm -f "$etc/hosts" "$etc/resolv.conf"
	cp "$NETNS_ETC/hosts" "$NETNS_ETC/resolv.conf" "$etc/"

	# CNI plugins: Debian's, plus the engine's own dnsname.
	rm -rf "$cni"
	mkdir -p "$cni"
	for plugin in "$CNI_PLUGIN_DIR"/*; do
		ln -s "$plugin" "$cni/"
	done
	ln -s "$ENGINE_BIN/dnsname" "$cni/dnsname"

	# The registry in Gitea is plain HTTP. This setting belongs to the
	# stack's engine only: the product pushes and pulls over HTTPS.
	cat >"$ENGINE_STATE/buildkitd.toml" <<EOF
[registry."127.0.0.1:$GITEA_HTTP_PORT"]
  http = true
  insecure = true
EOF

	# GOPROXY reaches Go SDK module builds too: the engine passes its own
	# GOPROXY to them.
	start_bg engine env \
		ENGINE_ETC="$etc" ENGINE_RUNC="$(command -v runc)" \
		ENGINE_INIT="$ENGINE_BIN/dagger-init" ENGINE_CONTENT="$ENGINE_CONTENT" \
		DO_NOT_TRACK=1 GOPROXY="$(engine_cluster_goproxy)" \
		DAGGER_GO_SDK_MANIFEST_DIGEST="$(cat "$ENGINE_CONTENT/go-sdk-manifest-digest")" \
		PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		nsenter --net="/run/netns/$INCLUSTER_NETNS" -- \
		unshare --mount --propagation private -- \
		"$ROOT/hack/engine/run-engine" \
		"$ENGINE_BIN/dagger-engine" \
		--root "$ENGINE_STATE/root" \
		--addr "unix://$ENGINE_SOCK" \
		--config "$ENGINE_STATE/buildkitd.toml" \
		--oci-cni-binary-dir "$cni" \
		--network-cidr "$INCLUSTER_ENGINE_CIDR"

	if ! wait_for "the engine" 60 engine_ready; then
		log "the engine did not respond on $ENGINE_SOCK within 60s (log: $INCLUSTER_LOGS/engine.log)"
		return 1
	fi
}

# engine_ready: true when the engine returns the result of a query.
engine_ready() {
	pid_alive engine && [ -S "$ENGINE_SOCK" ] &&
		echo '{version}' | engine_cli query >/dev/null 2>&1
}

# engine_cli ARGS...: runs the dagger CLI against the stack's engine.
engine_cli() {
	DO_NOT_TRACK=1 _EXPERIMENTAL_DAGGER_RUNNER_HOST="unix://$ENGINE_SOCK" \
		_EXPERIMENTAL_DAGGER_CLI_BIN="$ENGINE_BIN/dagger" "$ENGINE_BIN/dagger" "$@"
}

engine_stop() {
	stop_pid engine
	rm -f "$ENGINE_SOCK"
	rm -rf "$ENGINE_STATE/etc" "$ENGINE_STATE/cni"
}

engine_status() {
	pid_alive engine && [ -S "$ENGINE_SOCK" ]
}

engine_env() {
	echo "export _EXPERIMENTAL_DAGGER_RUNNER_HOST='unix://$ENGINE_SOCK'"
	echo "export _EXPERIMENTAL_DAGGER_CLI_BIN='$ENGINE_BIN/dagger'"
	echo "export INCLUSTER_DAGGER='$ENGINE_BIN/dagger'"
	echo "export DO_NOT_TRACK=1"
}
