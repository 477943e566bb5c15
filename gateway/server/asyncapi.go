package server

import (
	"net/http"

	"github.com/wsgate/wsgate/shared"
)

// serveAsyncAPI serves the AsyncAPI document of the /ws/rooms protocol and
// the worker contract (shared/asyncapi.yaml), as built into the gateway.
func serveAsyncAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(shared.AsyncAPI)
}
