package main

import "testing"

func TestGreetingNamesVersion(t *testing.T) {
	if got, want := greeting(), "hello dev\n"; got != want {
		t.Errorf("greeting() = %q, want %q", got, want)
	}
}
