package server

import "net/http"

// headerSlack is what net/http lets through beyond Server.MaxHeaderBytes:
// it reads up to MaxHeaderBytes + 4096 bytes of request line and headers.
const headerSlack = 4096

// headerBytes is the size of r's request line and header block in the
// usual form, "Name: value" lines: what GATEWAY_MAX_HEADER_BYTES bounds.
// net/http has already parsed them; padding around values, which it drops,
// is bounded by the server's own limit.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2 // net/http moves it out of Header
	}
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// limitHeaders answers 431 to a request whose headers are over max bytes
// (headerBytes), which net/http's slack would let through.
func limitHeaders(max int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headerBytes(r) > max {
			http.Error(w, "request headers too large", http.StatusRequestHeaderFieldsTooLarge)
			return
		}
		next.ServeHTTP(w, r)
	})
}
