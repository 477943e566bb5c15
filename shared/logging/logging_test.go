package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestFromEnv(t *testing.T) {
	var b bytes.Buffer
	t.Setenv("LOG_FORMAT", "json")
	t.Setenv("LOG_LEVEL", "warn")
	log, err := FromEnv(&b)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	var line map[string]any
	if err := json.Unmarshal(b.Bytes(), &line); err != nil || line["msg"] != "shown" || strings.Contains(b.String(), "hidden") {
		t.Fatalf("json/warn: %q %v", b.String(), err)
	}
	t.Setenv("LOG_FORMAT", "xml")
	if _, err := FromEnv(&b); err == nil {
		t.Fatal("LOG_FORMAT=xml accepted")
	}
	t.Setenv("LOG_FORMAT", "")
	t.Setenv("LOG_LEVEL", "loud")
	if _, err := FromEnv(&b); err == nil {
		t.Fatal("LOG_LEVEL=loud accepted")
	}
}
