// Command brokenbuild does not compile on purpose: it calls a function
// that does not exist. The end-to-end tests check that build-and-push
// reports the compiler's error.
package main

func main() {
	startServer()
}
