package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strings"
)

// connection is one connect, sendto or sendmsg call on an IPv4 or IPv6
// socket, as strace recorded it.
type connection struct {
	PID      string `json:"pid"`
	Syscall  string `json:"syscall"`
	Protocol string `json:"protocol"` // TCP, UDP, or empty when strace did not name it
	Address  string `json:"address"`  // host:port
	Line     string `json:"line"`
}

func (c connection) String() string {
	protocol := c.Protocol
	if protocol == "" {
		protocol = "socket"
	}
	return fmt.Sprintf("pid %s: %s on a %s to %s", c.PID, c.Syscall, protocol, c.Address)
}

var (
	traceLine = regexp.MustCompile(`^(\d+)\s+(connect|sendto|sendmsg)\((\d+)(?:<([A-Za-z0-9]+):)?`)
	inet4     = regexp.MustCompile(`sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)`)
	inet6     = regexp.MustCompile(`sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"`)
)

// parseTrace returns the IPv4 and IPv6 calls in the output of
// `strace -f -yy -e trace=connect,sendto,sendmsg`. Calls on unix and
// netlink sockets, and sends without an address, are left out.
func parseTrace(r io.Reader) ([]connection, error) {
	var out []connection
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := scanner.Text()
		m := traceLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var host, port string
		if a := inet4.FindStringSubmatch(line); a != nil && strings.Contains(line, "sa_family=AF_INET,") {
			port, host = a[1], a[2]
		} else if a := inet6.FindStringSubmatch(line); a != nil && strings.Contains(line, "sa_family=AF_INET6") {
			port, host = a[1], a[2]
		} else {
			continue
		}
		protocol := strings.TrimSuffix(m[4], "v6")
		if protocol != "TCP" && protocol != "UDP" {
			protocol = ""
		}
		out = append(out, connection{
			PID:      m[1],
			Syscall:  m[2],
			Protocol: protocol,
			Address:  net.JoinHostPort(host, port),
			Line:     line,
		})
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read strace output: %w", err)
	}
	return out, nil
}

// routeProbe is the address that act v0.2.89 connects a UDP socket to at
// start, to learn the address of the default route's interface
// (common.GetOutboundIP in pkg/common/outbound_ip.go). A UDP connect sends
// no packet.
const routeProbe = "8.8.8.8:80"

// outbound returns the calls of conns that aim outside the network
// namespace: all but those to a loopback address and act's UDP route probe.
func outbound(conns []connection) []connection {
	var out []connection
	for _, c := range conns {
		if c.Syscall == "connect" && c.Protocol == "UDP" && c.Address == routeProbe {
			continue
		}
		if addr, err := netip.ParseAddrPort(c.Address); err == nil && addr.Addr().IsLoopback() {
			continue
		}
		out = append(out, c)
	}
	return out
}
