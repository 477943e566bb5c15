package main

import (
	"os/exec"
	"strings"
	"testing"
)

// An unknown revision fails before anything is built or checked out.
func TestBuildRefUnknownRevision(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	if _, err := gitOut("", "rev-parse", "--show-toplevel"); err != nil {
		t.Skip("not in a git checkout")
	}
	r := &runner{}
	_, err := r.buildRef("wsbench-no-such-revision")
	if err == nil || !strings.Contains(err.Error(), `revision "wsbench-no-such-revision" not found`) {
		t.Fatalf("buildRef = %v, want a revision-not-found error", err)
	}
}
