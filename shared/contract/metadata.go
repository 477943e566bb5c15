package contract

import (
	"os"
	"runtime"
)

// Version is the version of this contract. Workers advertise it, so an
// operator sees with `nats micro info` which contract each one speaks.
const Version = "1"

// Metadata is what a worker advertises through NATS micro discovery: the
// contract version, Go version and host, then the pairs in kv.
func Metadata(kv ...string) map[string]string {
	m := map[string]string{"contract": Version, "go": runtime.Version()}
	if h, err := os.Hostname(); err == nil {
		m["host"] = h
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}
