package server

import (
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Content-Type")
}

func TestWebAssets(t *testing.T) {
	_, url := startNATS(t)
	g := gateway(t, url)
	for path, ctype := range map[string]string{"/": "text/html", "/client/wsgate.js": "text/javascript", "/demo/demo.js": "text/javascript", "/demo/demo.css": "text/css"} {
		if code, ct := get(t, g.ts.URL+path); code != 200 || !strings.HasPrefix(ct, ctype) {
			t.Errorf("%s: %d %s", path, code, ct)
		}
	}
	off := gateway(t, url, func(c *Config) { c.Demo = false })
	if code, _ := get(t, off.ts.URL+"/"); code != 404 {
		t.Errorf("demo off: / is %d", code)
	}
	if code, _ := get(t, off.ts.URL+"/client/wsgate.js"); code != 200 {
		t.Errorf("demo off: client is %d", code)
	}
}
