// Command failingtest prints a greeting. Its test fails on purpose: the
// end-to-end tests check that build-and-push stops at the test step.
package main

import "fmt"

func greeting(name string) string {
	return "hello, " + name
}

func main() {
	fmt.Println(greeting("world"))
}
