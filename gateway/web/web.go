// Package web serves the browser side of the product from the gateway: the
// JavaScript client module at /client/wsgate.js and, unless turned off, the
// demo page at /. The files are embedded in the binary.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// ClientPath is where the client module is served.
const ClientPath = "/client/wsgate.js"

// Register adds the client module, and with demo the demo page and its
// assets, to mux.
func Register(mux *http.ServeMux, demo bool) {
	static, _ := fs.Sub(files, "static")
	serve := func(name, ctype string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			http.ServeFileFS(w, r, static, name)
		}
	}
	mux.HandleFunc("GET "+ClientPath, serve("wsgate.js", "text/javascript; charset=utf-8"))
	if !demo {
		return
	}
	page := serve("index.html", "text/html; charset=utf-8")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		// The demo loads only its own files.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:")
		page(w, r)
	})
	mux.HandleFunc("GET /demo/demo.js", serve("demo.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /demo/demo.css", serve("demo.css", "text/css; charset=utf-8"))
}
