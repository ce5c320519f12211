# The netns component of hack/stack: a named network namespace that is
# the cluster network. The Dagger engine runs in it (engine.sh), and so do
# the services that containers in the engine reach:
#
#   - Gitea, forwarded from the host's 127.0.0.1:$GITEA_HTTP_PORT through a
#     unix socket (unix sockets cross network namespaces): socat on the
#     host listens on the socket, and socat in the namespace listens on
#     every address of the namespace at the same port. So the engine pulls
#     127.0.0.1:$GITEA_HTTP_PORT/... as the host does, and containers reach
#     Gitea at the engine network's gateway address under a cluster name.
#   - The Kubernetes API server (kube.sh), forwarded from the host's
#     127.0.0.1:$KUBE_APISERVER_PORT the same way, under the name
#     $CLUSTER_KUBE_NAME that its certificate carries, so that module
#     containers can wait for rollouts (INCLUSTER_CLUSTER_KUBECONFIG).
#   - A Go module proxy (hack/goproxy) over the host's module cache, so a
#     module that `go mod download` fetched on the host can be downloaded
#     by builds in the engine, which have no other network.
#
# Processes in the namespace see /etc/hosts and /etc/resolv.conf from
# /etc/netns/$INCLUSTER_NETNS/ (ip netns exec bind-mounts them); the hosts
# file maps the cluster names to the gateway.

INCLUSTER_NETNS=${INCLUSTER_NETNS:-incluster}
# The engine's container network. Its first address is the bridge, the
# gateway at which containers reach the namespace's services.
INCLUSTER_ENGINE_CIDR=${INCLUSTER_ENGINE_CIDR:-10.87.0.0/16}
INCLUSTER_GOPROXY_PORT=${INCLUSTER_GOPROXY_PORT:-8081}
# Cluster-internal names, as a Kubernetes cluster's DNS would give them.
CLUSTER_GITEA_NAME=gitea-http.gitea.svc.cluster.local
CLUSTER_GOPROXY_NAME=goproxy.goproxy.svc.cluster.local
CLUSTER_KUBE_NAME=kubernetes.default.svc.cluster.local

NETNS_STATE=$INCLUSTER_STATE/netns
NETNS_ETC=/etc/netns/$INCLUSTER_NETNS

# netns_gateway prints the engine network's gateway: the CIDR's first host.
netns_gateway() {
	local net=${INCLUSTER_ENGINE_CIDR%/*}
	echo "${net%.*}.1"
}

netns_exists() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$INCLUSTER_NETNS"
}

netns_build() {
	need_cmd ip iproute2
	need_cmd nsenter util-linux
	need_cmd socat socat
	mkdir -p "$INCLUSTER_BIN"
	log "building goproxy"
	(cd "$ROOT" && GOTOOLCHAIN=local go build -o "$INCLUSTER_BIN/goproxy" ./hack/goproxy) ||
		die "building hack/goproxy failed"
}

netns_start() {
	local name port=$GITEA_HTTP_PORT moddir gateway
	# A part left running by a stack that did not stop is stopped first,
	# by its PID file, so that no old forwarder keeps the socket.
	for name in gitea-forward gitea-netns kube-forward kube-netns goproxy; do
		pid_check_stale "$name"
		if pid_alive "$name"; then
			log "stopping $name (PID $(pid_of "$name")) left by a stack that did not stop"
			stop_pid "$name"
		fi
	done
	if netns_exists; then
		if [ -f "$NETNS_STATE/created" ]; then
			log "removing network namespace $INCLUSTER_NETNS left by a stack that did not stop"
			ip netns delete "$INCLUSTER_NETNS" || die "deleting network namespace $INCLUSTER_NETNS failed"
		else
			die "network namespace $INCLUSTER_NETNS already exists and hack/stack did not create it; delete it (ip netns delete $INCLUSTER_NETNS) or set INCLUSTER_NETNS to another name"
		fi
	fi
	moddir=$(GOTOOLCHAIN=local go env GOMODCACHE)/cache/download
	mkdir -p "$moddir" "$NETNS_STATE"
	gateway=$(netns_gateway)

	ip netns add "$INCLUSTER_NETNS" || die "creating network namespace $INCLUSTER_NETNS failed (ip netns add needs root)"
	: >"$NETNS_STATE/created"
	ip -n "$INCLUSTER_NETNS" link set lo up || die "bringing up lo in $INCLUSTER_NETNS failed"

	# Private /etc files for every process in the namespace. resolv.conf
	# names no server, because the cluster has no outside network: so the
	# engine's dnsmasq rejects a name it does not know at once, where a
	# nameserver line would make each such query wait for a timeout.
	mkdir -p "$NETNS_ETC"
	cat >"$NETNS_ETC/hosts" <<EOF
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
$gateway	$CLUSTER_GITEA_NAME $CLUSTER_GOPROXY_NAME $CLUSTER_KUBE_NAME
EOF
	: >"$NETNS_ETC/resolv.conf"

	rm -f "$NETNS_STATE/gitea.sock"
	start_bg gitea-forward socat \
		"UNIX-LISTEN:$NETNS_STATE/gitea.sock,fork,mode=600" "TCP:127.0.0.1:$port"
	wait_for "gitea socket" 10 test -S "$NETNS_STATE/gitea.sock" ||
		{ log "the Gitea forwarder did not create $NETNS_STATE/gitea.sock (log: $INCLUSTER_LOGS/gitea-forward.log)"; return 1; }
	start_bg gitea-netns ip netns exec "$INCLUSTER_NETNS" socat \
		"TCP-LISTEN:$port,fork,reuseaddr" "UNIX-CONNECT:$NETNS_STATE/gitea.sock"
	# The API server may start later (kube comes after netns): the host's
	# forwarder connects to it per connection.
	rm -f "$NETNS_STATE/kube.sock"
	start_bg kube-forward socat \
		"UNIX-LISTEN:$NETNS_STATE/kube.sock,fork,mode=600" "TCP:127.0.0.1:$KUBE_APISERVER_PORT"
	wait_for "kube socket" 10 test -S "$NETNS_STATE/kube.sock" ||
		{ log "the API server forwarder did not create $NETNS_STATE/kube.sock (log: $INCLUSTER_LOGS/kube-forward.log)"; return 1; }
	start_bg kube-netns ip netns exec "$INCLUSTER_NETNS" socat \
		"TCP-LISTEN:$KUBE_APISERVER_PORT,fork,reuseaddr" "UNIX-CONNECT:$NETNS_STATE/kube.sock"
	start_bg goproxy ip netns exec "$INCLUSTER_NETNS" "$INCLUSTER_BIN/goproxy" \
		-listen ":$INCLUSTER_GOPROXY_PORT" -dir "$moddir"

	wait_for "gitea in $INCLUSTER_NETNS" 10 netns_listens "$port" ||
		{ log "nothing listens on $port in $INCLUSTER_NETNS (log: $INCLUSTER_LOGS/gitea-netns.log)"; return 1; }
	wait_for "API server forward in $INCLUSTER_NETNS" 10 netns_listens "$KUBE_APISERVER_PORT" ||
		{ log "nothing listens on $KUBE_APISERVER_PORT in $INCLUSTER_NETNS (log: $INCLUSTER_LOGS/kube-netns.log)"; return 1; }
	wait_for "goproxy in $INCLUSTER_NETNS" 10 netns_listens "$INCLUSTER_GOPROXY_PORT" ||
		{ log "goproxy does not listen on $INCLUSTER_GOPROXY_PORT in $INCLUSTER_NETNS (log: $INCLUSTER_LOGS/goproxy.log)"; return 1; }
}

# netns_listens PORT: true when a TCP socket in the namespace listens on PORT.
netns_listens() {
	[ -n "$(ip netns exec "$INCLUSTER_NETNS" ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

netns_stop() {
	stop_pid goproxy
	stop_pid kube-netns
	stop_pid kube-forward
	stop_pid gitea-netns
	stop_pid gitea-forward
	rm -f "$NETNS_STATE/gitea.sock" "$NETNS_STATE/kube.sock"
	if [ -f "$NETNS_STATE/created" ]; then
		if netns_exists; then
			ip netns delete "$INCLUSTER_NETNS" || log "deleting network namespace $INCLUSTER_NETNS failed"
		fi
		rm -f "$NETNS_STATE/created"
		rm -rf "$NETNS_ETC"
	fi
}

# NOTE: the status leaves out the API server forwarders (kube-forward,
# kube-netns), so that a namespace started before they existed still
# counts as running. Such a namespace lacks $CLUSTER_KUBE_NAME until
# `hack/stack down netns engine` and `up` restart it.
netns_status() {
	netns_exists && [ -f "$NETNS_STATE/created" ] &&
		pid_alive gitea-forward && pid_alive gitea-netns && pid_alive goproxy
}

netns_env() {
	echo "export INCLUSTER_NETNS='$INCLUSTER_NETNS'"
	echo "export INCLUSTER_CLUSTER_GITEA='$CLUSTER_GITEA_NAME:$GITEA_HTTP_PORT'"
	echo "export INCLUSTER_CLUSTER_GOPROXY='http://$CLUSTER_GOPROXY_NAME:$INCLUSTER_GOPROXY_PORT'"
}
