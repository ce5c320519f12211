// Command hello is the service that hack/check ships with the workflow
// under nektos/act: an HTTP server on :8080 that responds with its version.
package main

import (
	"fmt"
	"log"
	"net/http"
)

// version is set at build time through -ldflags -X main.version=TAG.
var version = "dev"

func greeting() string {
	return "hello " + version + "\n"
}

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, greeting())
	})
	log.Fatal(http.ListenAndServe(":8080", nil))
}
