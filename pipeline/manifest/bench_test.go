package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"go.yaml.in/yaml/v4"
)

const benchDocuments = 5000

// benchInput returns a multi-document file of Deployments, one container in
// four referring to the image that the benchmark bumps.
func benchInput(documents int) []byte {
	var b bytes.Buffer
	for i := range documents {
		image := "nginx:1.25"
		if i%4 == 0 {
			image = "gitea-http.gitea.svc.cluster.local:3000/acme/app:v1"
		}
		fmt.Fprintf(&b, `---
# Deployment %d.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-%d
  labels: {app: web, tier: "frontend"}
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: app
          image: %s # pinned
          ports:
            - containerPort: 8080
          env:
            - {name: MODE, value: production}
        - name: sidecar
          image: 'busybox:1.36'
`, i, i, image)
	}
	return b.Bytes()
}

// BenchmarkRewrite compares Rewrite with decoding every document into a
// yaml.v4 Node tree and encoding it again, the usual approach of tools
// that parse and re-serialize. Run both in one invocation:
//
//	go test -run '^$' -bench Rewrite ./pipeline/manifest
func BenchmarkRewrite(b *testing.B) {
	data := benchInput(benchDocuments)
	u := Update{Image: "gitea-http.gitea.svc.cluster.local:3000/acme/app", Tag: "v2"}

	b.Run("splice", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Rewrite("bench.yaml", data, u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("node-round-trip", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := roundTrip(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// roundTrip decodes each document into a Node and encodes it again.
func roundTrip(data []byte) ([]byte, error) {
	var out bytes.Buffer
	dec := yaml.NewDecoder(bytes.NewReader(data))
	enc := yaml.NewEncoder(&out)
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := enc.Encode(&n); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// TestBenchInput keeps the benchmark input honest: every fourth container
// changes, and the round trip loses formatting that Rewrite keeps.
func TestBenchInput(t *testing.T) {
	data := benchInput(40)
	u := Update{Image: "gitea-http.gitea.svc.cluster.local:3000/acme/app", Tag: "v2"}
	_, changes, err := Rewrite("bench.yaml", data, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 10 {
		t.Fatalf("%d changes, want 10", len(changes))
	}
	trip, err := roundTrip(data)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(trip, data) {
		t.Fatal("round trip kept the input byte for byte; the baseline measures nothing")
	}
}
