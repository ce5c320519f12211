# shellcheck shell=bash
# The images component of hack/stack: the base images, assembled on this
# machine by hack/mirror and pushed to Gitea's registry, as an air-gapped
# cluster mirrors them. The pipeline takes its base images as parameters;
# these stand in for golang:VERSION and
# gcr.io/distroless/static-debian12:nonroot. The images live in Gitea's
# data, so this component starts no process and `down` leaves them there.

IMAGES_MIRROR=$INCLUSTER_STATE/bin/mirror
IMAGES_LAYERS=$INCLUSTER_CACHE/layers
IMAGES_OWNER=incluster
IMAGES_BUSYBOX=/bin/busybox

# images_goroot prints the host's Go toolchain folder, copied into the
# builder image.
images_goroot() {
	GOTOOLCHAIN=local go env GOROOT
}

images_go_tag() {
	sed -n '1s/^go//p' "$(images_goroot)/VERSION"
}

images_build() {
	command -v go >/dev/null 2>&1 || die "go is missing: install Go 1.26 and run again"
	need_cmd "$IMAGES_BUSYBOX" busybox-static
	need_file /etc/ssl/certs/ca-certificates.crt ca-certificates
	need_file /usr/share/zoneinfo/UTC tzdata
	mkdir -p "$(dirname "$IMAGES_MIRROR")"
	(cd "$ROOT" && GOTOOLCHAIN=local go build -o "$IMAGES_MIRROR" ./hack/mirror) ||
		die "building hack/mirror failed"
}

# images_mirror ARGS...: runs hack/mirror against this stack's registry.
images_mirror() {
	gitea_use_recorded_port
	"$IMAGES_MIRROR" -registry "127.0.0.1:$GITEA_HTTP_PORT" -owner "$IMAGES_OWNER" \
		-goroot "$(images_goroot)" -busybox "$IMAGES_BUSYBOX" "$@"
}

images_start() {
	gitea_status || die "Gitea is not running; images are pushed to its registry"
	log "pushing base images to 127.0.0.1:$GITEA_HTTP_PORT/$IMAGES_OWNER (the first run compresses the Go toolchain)"
	images_mirror -user "$GITEA_ADMIN" -token-file "$GITEA_STATE/token" -cache "$IMAGES_LAYERS" \
		>"$INCLUSTER_STATE/images.json" || die "pushing the base images failed"
}

images_stop() { log "images stay in Gitea's registry until Gitea's data is removed"; }

images_status() {
	[ -x "$IMAGES_MIRROR" ] || return 1
	gitea_status || return 1
	images_mirror -check 2>/dev/null
}

images_env() {
	gitea_use_recorded_port
	echo "export INCLUSTER_GO_IMAGE='127.0.0.1:$GITEA_HTTP_PORT/$IMAGES_OWNER/golang:$(images_go_tag)'"
	echo "export INCLUSTER_BASE_IMAGE='127.0.0.1:$GITEA_HTTP_PORT/$IMAGES_OWNER/distroless-static:nonroot'"
}
