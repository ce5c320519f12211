package main

import "testing"

func TestGreetingPunctuation(t *testing.T) {
	got := greeting("e2e")
	if want := "hello, e2e!"; got != want {
		t.Errorf("greeting(%q) = %q, want %q", "e2e", got, want)
	}
}
