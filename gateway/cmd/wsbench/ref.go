package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// reference is the side of a -ref build: the product as it was at another
// git revision, on a stack of its own, measured in the same run.
const reference = "reference"

// refBuild is how the reference binaries were made; it goes into bench.json.
type refBuild struct {
	Rev          string  `json:"rev"`            // as given to -ref
	Commit       string  `json:"commit"`         // what it resolved to
	Product      string  `json:"product_commit"` // git describe of the tree the product was built from, for the record
	BuildSeconds float64 `json:"build_seconds"`
	dir          string  // temporary; removed at the end of the run
	bin          string
}

// buildRef builds the gateway, worker and devnats of rev into a temporary
// directory: a detached git worktree of rev, `go build` there (the go on
// PATH, as `task build` uses, honouring the revision's own go.work), and the
// worktree removed again. Nothing of the current checkout is touched.
func (r *runner) buildRef(rev string) (*refBuild, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, fmt.Errorf("building a reference needs git on PATH: %w", err)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("building a reference needs go on PATH: %w", err)
	}
	top, err := gitOut("", "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("run wsbench inside the wsgate git checkout: %w", err)
	}
	commit, err := gitOut(top, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("revision %q not found in %s (a shallow clone may lack it: git fetch --unshallow)", rev, top)
	}
	b := &refBuild{Rev: rev, Commit: commit}
	b.Product, _ = gitOut(top, "describe", "--always", "--dirty")
	if b.dir, err = os.MkdirTemp("", "wsbench-ref-"); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(b.dir)
		}
	}()
	src, bin := filepath.Join(b.dir, "src"), filepath.Join(b.dir, "bin")
	start := time.Now()
	r.logf("building reference %s (%s) in %s", rev, commit[:min(12, len(commit))], b.dir)
	if _, err := gitOut(top, "worktree", "add", "--detach", src, commit); err != nil {
		return nil, err
	}
	// The worktree is registered in the repository: always deregister it.
	defer func() {
		if _, err := gitOut(top, "worktree", "remove", "--force", src); err != nil {
			fmt.Fprintf(os.Stderr, "wsbench: could not remove the reference worktree: %v\n", err)
		}
	}()
	cmd := exec.Command(goCmd, "build", "-o", bin+string(filepath.Separator),
		"./gateway/cmd/gateway", "./worker/cmd/worker", "./shared/cmd/devnats")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=") // the revision's own go.work, not one from the environment
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build of %s: %v\n%s", rev, err, out)
	}
	for _, name := range []string{"gateway", "worker", "devnats"} {
		if !fileExists(filepath.Join(bin, name)) {
			return nil, fmt.Errorf("go build of %s made no %s", rev, name)
		}
	}
	b.bin, b.BuildSeconds = bin, time.Since(start).Seconds()
	r.logf("reference built in %.0f s", b.BuildSeconds)
	ok = true
	return b, nil
}

func gitOut(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", errors.New("git " + strings.Join(args, " ") + ": " + msg)
	}
	return strings.TrimSpace(string(out)), nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// stacks are the stacks of the run: the product's, then the reference's.
func (r *runner) stacks() []*stack {
	if r.ref == nil {
		return []*stack{r.stack}
	}
	return []*stack{r.stack, r.ref}
}

// stackOf returns the stack of a side (nil for the baseline).
func (r *runner) stackOf(side string) *stack {
	switch side {
	case product:
		return r.stack
	case reference:
		return r.ref
	}
	return nil
}

// sides are the sides of the echo-like scenarios, in the order every round
// runs them: baseline, reference (with -ref), product.
func (r *runner) sides() []string {
	if r.ref == nil {
		return []string{baseline, product}
	}
	return []string{baseline, reference, product}
}

// productSides are the sides of scenarios the baseline has no part in.
func (r *runner) productSides() []string {
	if r.ref == nil {
		return []string{product}
	}
	return []string{reference, product}
}
