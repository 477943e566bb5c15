package main

import (
	"fmt"
	"io"
	"strings"
)

// issueTargets are the targets of issues 12 and 14 that wsbench measures, by number,
// so the summary also names those this run left out (-only) or cannot show.
var issueTargets = []struct{ id, what string }{
	{"12.1", "fan-out saturation >=4x reference (1,000 members, 2 gateways); CPU per delivery at 200k/s <=0.5x reference; 10,000 members reported"},
	{"12.2", "one pipelined publisher >=20,000 frames/s on echo and on a room, in order"},
	{"12.3", "storm: ~20,000 joins into one room fill in <5 s while another room's p99 stays <50 ms"},
	{"12.4", "echo: server CPU <=20 µs per round trip at 50 conns; >=0.5x baseline at 50, >=0.8x at 500"},
	{"12.6", "idle: RSS per connection at or under today's 9 KiB at 10,000 and 19,000, one goroutine each"},
	{"14.1", "history: fan-out saturation with history on >=0.7x off (1,000 members, 2 gateways, same run)"},
	{"14.2", "history: p99 at 40,000 deliveries/s (1,000 members) with history on <=2x off"},
	{"14.3", "history: resuming 1,000 missed messages (join sent to ok, all delivered) <200 ms"},
}

// printTargets lists every figure that answers an issue target with its
// verdict, grouped by target.
func (rep *report) printTargets(w io.Writer) {
	fmt.Fprintln(w, "Issue targets (reference = the -ref build, measured in this run; in 14.x, the same build with history off):")
	for _, t := range issueTargets {
		fmt.Fprintf(w, "  %s %s\n", t.id, t.what)
		n := 0
		for _, f := range rep.Figures {
			if f.Issue != t.id && !strings.HasPrefix(f.Issue, t.id+" ") {
				continue
			}
			n++
			res := "info"
			if f.Pass != nil {
				res = map[bool]string{true: "PASS", false: "MISS"}[*f.Pass]
			}
			line := fmt.Sprintf("    %-4s %s: product %s %s", res, f.Name, fmtNum(f.Product, f.Unit), f.Unit)
			if f.Ref != nil {
				line += fmt.Sprintf(", reference %s (%s)", fmtNum(*f.Ref, f.Unit), orDash(f.VsRef))
			}
			if f.Baseline != nil {
				line += fmt.Sprintf(", baseline %s (%s)", fmtNum(*f.Baseline, f.Unit), orDash(f.Versus))
			}
			fmt.Fprintf(w, "%s; target %s\n", line, orDash(f.Target))
		}
		if n == 0 {
			fmt.Fprintln(w, "    (not measured in this run)")
		}
	}
	fmt.Fprintln(w, "  12.5 (drop counters) is not a wsbench figure; 12.4's allocations come from go test -bench -benchmem.")
}
