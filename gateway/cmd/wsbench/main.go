// Command wsbench benchmarks the wsgate gateway against a plain gorilla
// WebSocket echo server, side by side on the same machine.
//
//	wsbench baseline -addr 127.0.0.1:0   the reference echo server (no NATS)
//	wsbench hold                         a client process holding connections, driven on stdin/stdout
//	wsbench run [-bin DIR] [-smoke] [-out bench.json] [-only echo,latency,...] [-pprof DIR] [-ref-bin DIR]
//
// run starts NATS, the workers, the gateways and the baseline as separate
// processes, as in production, so each one's CPU and memory can be read
// from /proc, and the clients live in other processes than the servers.
// Only loopback addresses are ever dialled.
package main

import (
	"fmt"
	"os"
)

const usage = `usage:
  wsbench baseline [-addr 127.0.0.1:0]
  wsbench hold
  wsbench run [-bin DIR] [-smoke] [-out bench.json] [-only LIST] [-pprof DIR] [-keep-logs] [-ref-bin DIR] [-storm-nice N]`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "baseline":
		err = baselineMain(os.Args[2:])
	case "hold":
		err = holdMain(os.Args[2:])
	case "run":
		os.Exit(runMain(os.Args[2:]))
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(1)
	}
}
