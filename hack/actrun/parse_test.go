package main

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// straceSample is strace -f -yy output as act, a shell and the Dagger CLI
// produce it, with act's UDP route probe, a unix socket, loopback calls
// and calls that leave the namespace.
const straceSample = `8244  connect(5<UDP:[1079792]>, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("8.8.8.8")}, 16) = -1 ENETUNREACH (Network is unreachable)
8250  connect(7<UNIX-STREAM:[1079900]>, {sa_family=AF_UNIX, sun_path="/root/.cache/incluster/state/engine/engine.sock"}, 50) = 0
8251  connect(3<TCP:[1079950]>, {sa_family=AF_INET, sin_port=htons(3000), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)
8252  connect(3<TCP:[1079951]>, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("192.0.2.10")}, 16) = -1 ENETUNREACH (Network is unreachable)
8253  sendto(4<UDP:[1079960]>, "\x12\x34", 2, MSG_NOSIGNAL, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.2")}, 16) = -1 ENETUNREACH (Network is unreachable)
8254  connect(6<TCPv6:[1079970]>, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH (Network is unreachable)
8255  connect(6<UDPv6:[1079971]>, {sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0
8256  sendmsg(9<NETLINK:[1079980]>, {msg_name={sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, msg_namelen=12}, 0) = 20
8257  connect(5<UDP:[1079990]>, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("8.8.4.4")}, 16) = -1 ENETUNREACH (Network is unreachable)
8244  --- SIGURG {si_signo=SIGURG, si_code=SI_TKILL, si_pid=8240, si_uid=0} ---
`

func TestParseTraceInetCalls(t *testing.T) {
	conns, err := parseTrace(strings.NewReader(straceSample))
	assert.NilError(t, err)
	var got []string
	for _, c := range conns {
		got = append(got, c.Syscall+" "+c.Protocol+" "+c.Address)
	}
	assert.DeepEqual(t, got, []string{
		"connect UDP 8.8.8.8:80",
		"connect TCP 127.0.0.1:3000",
		"connect TCP 192.0.2.10:443",
		"sendto UDP 10.0.0.2:53",
		"connect TCP [2001:db8::1]:443",
		"connect UDP [::1]:53",
		"connect UDP 8.8.4.4:80",
	})
	assert.Equal(t, conns[0].PID, "8244")
}

func TestOutboundSkipsLoopbackAndProbe(t *testing.T) {
	conns, err := parseTrace(strings.NewReader(straceSample))
	assert.NilError(t, err)
	var got []string
	for _, c := range outbound(conns) {
		got = append(got, c.String())
	}
	assert.DeepEqual(t, got, []string{
		"pid 8252: connect on a TCP to 192.0.2.10:443",
		"pid 8253: sendto on a UDP to 10.0.0.2:53",
		"pid 8254: connect on a TCP to [2001:db8::1]:443",
		"pid 8257: connect on a UDP to 8.8.4.4:80",
	})
}

func TestOutboundKeepsTCPToProbeAddress(t *testing.T) {
	conns := []connection{{Syscall: "connect", Protocol: "TCP", Address: routeProbe}}
	assert.Check(t, is.Len(outbound(conns), 1))
}

// actLogSample is act v0.2.89 --json output of a run whose pipeline step
// set two outputs, wrote a summary in two steps and logged an error.
const actLogSample = `{"level":"warning","msg":"Couldn't get a valid docker connection","time":"2026-12-04T16:55:58Z"}
{"job":"incluster/build-and-push","level":"info","msg":"⭐ Run Main Build, push and deploy","stage":"Main","step":"Build, push and deploy","stepID":["pipeline"]}
{"job":"incluster/build-and-push","level":"info","msg":"::error::no Gitea token: set the GITEA_TOKEN secret\n","raw_output":true,"stepID":["pipeline"]}
{"arg":"127.0.0.1:3000/a/b@sha256:00","command":"set-output","level":"info","msg":"  ⚙  ::set-output:: image=127.0.0.1:3000/a/b@sha256:00","name":"image","stepID":["pipeline"]}
{"arg":"sha256:00","command":"set-output","level":"info","msg":"  ⚙  ::set-output:: digest=sha256:00","name":"digest","stepID":["pipeline"]}
{"arg":"x","command":"set-output","level":"info","msg":"  ⚙  ::set-output:: other=x","name":"other","stepID":["other"]}
{"command":"summary","content":"## Pushed\n","level":"info","msg":"  ⚙  Summary - ## Pushed\n","stepID":["pipeline"]}
{"command":"summary","content":"digest sha256:00\n","level":"info","msg":"  ⚙  Summary - digest sha256:00\n","stepID":["pipeline"]}
{"level":"info","msg":"  ✅  Success - Main Build, push and deploy [1s]","step":"Build, push and deploy","stepResult":"success","stepID":["pipeline"]}
not JSON: a raw line
{"jobResult":"success","level":"info","msg":"🏁  Job succeeded"}
`

func TestReadRunLog(t *testing.T) {
	run, err := readRunLog(strings.NewReader(actLogSample), "pipeline")
	assert.NilError(t, err)
	assert.DeepEqual(t, run.Outputs, map[string]string{
		"image":  "127.0.0.1:3000/a/b@sha256:00",
		"digest": "sha256:00",
	})
	assert.Equal(t, run.Summary, "## Pushed\ndigest sha256:00\n")
	assert.Equal(t, run.JobResult, "success")
	assert.DeepEqual(t, run.Steps, map[string]string{"Build, push and deploy": "success"})
	assert.DeepEqual(t, run.Errors, []string{"no Gitea token: set the GITEA_TOKEN secret"})
}

func TestSecretLinesSkipsAddMask(t *testing.T) {
	log := strings.Join([]string{
		`{"arg":"s3cret","command":"add-mask","level":"info","msg":"  ⚙  ***","raw":"::add-mask::s3cret\n"}`,
		`{"level":"info","msg":"token s3cret\n","raw_output":true}`,
		`{"level":"info","msg":"nothing here"}`,
		`plain text s3cret`,
		`{"arg":"s3cret","command":"add-mask","level":"info","msg":"  ⚙  s3cret"}`,
	}, "\n")
	assert.DeepEqual(t, secretLines([]byte(log), "s3cret"), []int{2, 4, 5})
}
