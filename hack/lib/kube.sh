# The kube component of hack/stack: a Kubernetes control plane without
# nodes. etcd, kube-apiserver and kube-controller-manager (with the
# workload controllers) run on 127.0.0.1 with certificates generated into
# $KUBE_STATE. No kubelet or scheduler runs, so pods stay Pending unless a
# test marks them Running itself. Everything under $KUBE_STATE, etcd's data
# included, is removed by `down`: each `up` starts an empty cluster.

# The versions come from the wrapper module that builds the binaries.
KUBE_MODULE_DIR=$HACK/kube
# kube_module_version MODULE: prints the version of MODULE that the wrapper
# module's go.mod requires.
kube_module_version() {
	awk -v module="$1" '$1 == "require" && $2 == module { print $3 } $1 == module && $2 != "=>" { print $2 }' "$KUBE_MODULE_DIR/go.mod"
}
KUBE_VERSION=$(kube_module_version k8s.io/kubernetes)
ETCD_VERSION=$(kube_module_version go.etcd.io/etcd/server/v3)

KUBE_APISERVER_PORT=${KUBE_APISERVER_PORT:-6443}
KUBE_CONTROLLER_MANAGER_PORT=${KUBE_CONTROLLER_MANAGER_PORT:-10257}
KUBE_ETCD_CLIENT_PORT=${KUBE_ETCD_CLIENT_PORT:-2379}
KUBE_ETCD_PEER_PORT=${KUBE_ETCD_PEER_PORT:-2380}

KUBE_APISERVER_BIN=$INCLUSTER_BIN/kube-apiserver-$KUBE_VERSION
KUBE_CONTROLLER_MANAGER_BIN=$INCLUSTER_BIN/kube-controller-manager-$KUBE_VERSION
KUBE_ETCD_BIN=$INCLUSTER_BIN/etcd-$ETCD_VERSION
KUBE_STATE=$INCLUSTER_STATE/kube
KUBE_PKI=$KUBE_STATE/pki
KUBE_ADMIN_KUBECONFIG=$KUBE_STATE/admin.kubeconfig
# The admin's kubeconfig for containers in the engine, which reach the API
# server at $CLUSTER_KUBE_NAME through the forward in netns.sh.
KUBE_CLUSTER_KUBECONFIG=$KUBE_STATE/cluster.kubeconfig

# Controllers that kube-controller-manager runs: the workload controllers
# that rollouts need, plus namespace deletion and garbage collection so
# that deleting a namespace or a Deployment removes what it owned.
KUBE_CONTROLLERS=deployment-controller,replicaset-controller,statefulset-controller,daemonset-controller,namespace-controller,garbage-collector-controller

kube_binaries_ok() {
	if [ ! -x "$KUBE_APISERVER_BIN" ] || [ ! -x "$KUBE_CONTROLLER_MANAGER_BIN" ] || [ ! -x "$KUBE_ETCD_BIN" ]; then
		return 1
	fi
	"$KUBE_APISERVER_BIN" --version 2>/dev/null | grep -qx "Kubernetes $KUBE_VERSION"
}

# kube_build builds the three binaries from the wrapper module in
# hack/kube, once per version. The cold build downloads and compiles
# k8s.io/kubernetes.
kube_build() {
	kube_binaries_ok && return 0
	command -v go >/dev/null 2>&1 || die "go is missing: install Go 1.26 and run again"
	if [ -z "$KUBE_VERSION" ] || [ -z "$ETCD_VERSION" ]; then
		die "reading the versions from $KUBE_MODULE_DIR/go.mod failed"
	fi

	local out start
	log "building kube-apiserver and kube-controller-manager $KUBE_VERSION and etcd $ETCD_VERSION into $INCLUSTER_BIN (once; several minutes)"
	start=$(date +%s)
	out=$(mktemp -d "$INCLUSTER_CACHE/kube-build.XXXXXX")
	(
		cd "$KUBE_MODULE_DIR"
		export GOTOOLCHAIN=local CGO_ENABLED=0
		go build -trimpath \
			-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION" \
			-o "$out/" \
			k8s.io/kubernetes/cmd/kube-apiserver \
			k8s.io/kubernetes/cmd/kube-controller-manager \
			./etcd
	) >&2 || {
		rm -rf "$out"
		die "building the Kubernetes control plane failed (module $KUBE_MODULE_DIR)"
	}
	mkdir -p "$INCLUSTER_BIN"
	mv "$out/kube-apiserver" "$KUBE_APISERVER_BIN"
	mv "$out/kube-controller-manager" "$KUBE_CONTROLLER_MANAGER_BIN"
	mv "$out/etcd" "$KUBE_ETCD_BIN"
	rm -rf "$out"
	kube_binaries_ok || die "$KUBE_APISERVER_BIN does not report version $KUBE_VERSION"
	log "built the Kubernetes control plane in $(($(date +%s) - start))s"
}

# kube_cert NAME SUBJECT EXTENSIONS: writes NAME.key and NAME.crt in
# $KUBE_PKI, signed by the stack's CA.
kube_cert() {
	local name=$1 subject=$2 extensions=$3
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$KUBE_PKI/$name.key" -subj "$subject" -out "$KUBE_PKI/$name.csr" 2>/dev/null
	printf '%s\n' "$extensions" >"$KUBE_PKI/$name.ext"
	openssl x509 -req -in "$KUBE_PKI/$name.csr" -CA "$KUBE_PKI/ca.crt" -CAkey "$KUBE_PKI/ca.key" \
		-CAcreateserial -days 365 -extfile "$KUBE_PKI/$name.ext" -out "$KUBE_PKI/$name.crt" 2>/dev/null
	rm -f "$KUBE_PKI/$name.csr" "$KUBE_PKI/$name.ext"
}

# kube_pki generates the CA, the API server's serving certificate, client
# certificates for the admin and the controller manager, and the service
# account signing key.
kube_pki() {
	need_cmd openssl openssl
	mkdir -p "$KUBE_PKI"
	chmod 700 "$KUBE_PKI"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
		-keyout "$KUBE_PKI/ca.key" -out "$KUBE_PKI/ca.crt" -subj "/CN=incluster-kube-ca" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
		die "generating the cluster CA in $KUBE_PKI failed"
	kube_cert apiserver "/CN=kube-apiserver" "$(printf '%s\n' \
		"subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:$CLUSTER_KUBE_NAME" \
		"keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth")"
	# Both clients are in system:masters: this is a throwaway local cluster,
	# and the controller manager then needs no per-controller credentials.
	kube_cert admin "/O=system:masters/CN=incluster-admin" \
		"$(printf '%s\n' "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth")"
	kube_cert controller-manager "/O=system:masters/CN=system:kube-controller-manager" \
		"$(printf '%s\n' "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth")"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$KUBE_PKI/sa.key" 2>/dev/null
	openssl pkey -in "$KUBE_PKI/sa.key" -pubout -out "$KUBE_PKI/sa.pub"
}

# kube_kubeconfig CLIENT FILE [SERVER]: writes a kubeconfig for CLIENT's
# certificate with the certificates embedded, so the file works alone.
# SERVER is the API server's URL, https://127.0.0.1:PORT by default.
kube_kubeconfig() {
	local client=$1 file=$2 server=${3:-https://127.0.0.1:$KUBE_APISERVER_PORT}
	(
		umask 077
		cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: incluster
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$KUBE_PKI/ca.crt")
users:
- name: $client
  user:
    client-certificate-data: $(base64 -w0 "$KUBE_PKI/$client.crt")
    client-key-data: $(base64 -w0 "$KUBE_PKI/$client.key")
contexts:
- name: incluster
  context:
    cluster: incluster
    user: $client
current-context: incluster
EOF
	)
}

kube_start() {
	local pid
	for pid in kube-etcd kube-apiserver kube-controller-manager; do
		pid_check_stale "$pid"
	done
	port_free "$KUBE_ETCD_CLIENT_PORT" KUBE_ETCD_CLIENT_PORT
	port_free "$KUBE_ETCD_PEER_PORT" KUBE_ETCD_PEER_PORT
	port_free "$KUBE_APISERVER_PORT" KUBE_APISERVER_PORT
	port_free "$KUBE_CONTROLLER_MANAGER_PORT" KUBE_CONTROLLER_MANAGER_PORT
	need_cmd curl curl

	rm -rf "$KUBE_STATE"
	mkdir -p "$KUBE_STATE"
	kube_pki
	kube_kubeconfig admin "$KUBE_ADMIN_KUBECONFIG"
	kube_kubeconfig admin "$KUBE_CLUSTER_KUBECONFIG" "https://$CLUSTER_KUBE_NAME:$KUBE_APISERVER_PORT"
	kube_kubeconfig controller-manager "$KUBE_STATE/controller-manager.kubeconfig"

	local etcd_client=http://127.0.0.1:$KUBE_ETCD_CLIENT_PORT
	local etcd_peer=http://127.0.0.1:$KUBE_ETCD_PEER_PORT
	# --unsafe-no-fsync: the data is thrown away at `down` anyway, and
	# fsync on a shared disk slows every write of the API server.
	start_bg kube-etcd "$KUBE_ETCD_BIN" \
		--name incluster --data-dir "$KUBE_STATE/etcd" \
		--listen-client-urls "$etcd_client" --advertise-client-urls "$etcd_client" \
		--listen-peer-urls "$etcd_peer" --initial-advertise-peer-urls "$etcd_peer" \
		--initial-cluster "incluster=$etcd_peer" \
		--unsafe-no-fsync --log-level warn
	if ! wait_for "etcd" 30 curl -fsS "$etcd_client/health"; then
		log "etcd did not become healthy on $etcd_client within 30s (log: $INCLUSTER_LOGS/kube-etcd.log)"
		return 1
	fi

	# --endpoint-reconciler-type=none: the default reconciler writes the
	# advertise address into the kubernetes Service's Endpoints, whose
	# validation rejects loopback addresses. The service CIDR only numbers
	# Service objects, and nothing routes it. The ServiceAccount admission
	# plugin is off because no controller creates the default service
	# accounts. --allow-privileged=true matches kubeadm, kind and k3s: the
	# Dagger engine DaemonSet in manifests/ must run privileged.
	start_bg kube-apiserver "$KUBE_APISERVER_BIN" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
		--secure-port "$KUBE_APISERVER_PORT" \
		--etcd-servers "$etcd_client" \
		--endpoint-reconciler-type none \
		--service-cluster-ip-range 10.96.0.0/16 \
		--tls-cert-file "$KUBE_PKI/apiserver.crt" --tls-private-key-file "$KUBE_PKI/apiserver.key" \
		--client-ca-file "$KUBE_PKI/ca.crt" \
		--service-account-issuer "https://127.0.0.1:$KUBE_APISERVER_PORT" \
		--service-account-key-file "$KUBE_PKI/sa.pub" \
		--service-account-signing-key-file "$KUBE_PKI/sa.key" \
		--authorization-mode RBAC \
		--allow-privileged=true \
		--disable-admission-plugins ServiceAccount \
		--cert-dir "$KUBE_PKI" \
		--profiling=false
	if ! wait_for "kube-apiserver" 60 kube_ready; then
		log "kube-apiserver was not ready on 127.0.0.1:$KUBE_APISERVER_PORT within 60s (log: $INCLUSTER_LOGS/kube-apiserver.log)"
		return 1
	fi

	start_bg kube-controller-manager "$KUBE_CONTROLLER_MANAGER_BIN" \
		--kubeconfig "$KUBE_STATE/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$KUBE_STATE/controller-manager.kubeconfig" \
		--authorization-kubeconfig "$KUBE_STATE/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$KUBE_CONTROLLER_MANAGER_PORT" \
		--cert-dir "$KUBE_STATE/controller-manager" \
		--controllers "$KUBE_CONTROLLERS" \
		--leader-elect=false \
		--profiling=false
	if ! wait_for "kube-controller-manager" 60 curl -fsSk "https://127.0.0.1:$KUBE_CONTROLLER_MANAGER_PORT/healthz"; then
		log "kube-controller-manager was not healthy on 127.0.0.1:$KUBE_CONTROLLER_MANAGER_PORT within 60s (log: $INCLUSTER_LOGS/kube-controller-manager.log)"
		return 1
	fi
	log "kube: API server on https://127.0.0.1:$KUBE_APISERVER_PORT (kubeconfig: $KUBE_ADMIN_KUBECONFIG)"
}

# kube_ready: true when the API server reports ready on /readyz.
kube_ready() {
	curl -fsS --cacert "$KUBE_PKI/ca.crt" --cert "$KUBE_PKI/admin.crt" --key "$KUBE_PKI/admin.key" \
		"https://127.0.0.1:$KUBE_APISERVER_PORT/readyz" >/dev/null
}

kube_stop() {
	stop_pid kube-controller-manager
	stop_pid kube-apiserver
	stop_pid kube-etcd
	rm -rf "$KUBE_STATE"
}

kube_status() {
	pid_alive kube-etcd && pid_alive kube-apiserver && pid_alive kube-controller-manager && kube_ready
}

kube_env() {
	echo "export INCLUSTER_KUBECONFIG='$KUBE_ADMIN_KUBECONFIG'"
	echo "export INCLUSTER_CLUSTER_KUBECONFIG='$KUBE_CLUSTER_KUBECONFIG'"
}
