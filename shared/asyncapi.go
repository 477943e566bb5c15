// Package shared holds what gateways, workers and their clients share besides
// code: the AsyncAPI document of the /ws/rooms protocol and the worker
// contract.
package shared

import _ "embed"

// AsyncAPI is asyncapi.yaml, the AsyncAPI 3.0 description of the /ws/rooms
// protocol and of every NATS subject and header of the worker contract, for
// a gateway to serve (as application/yaml). Shared: do not modify.
//
//go:embed asyncapi.yaml
var AsyncAPI []byte
