// Package logging builds every process's slog logger from LOG_FORMAT
// (text or json) and LOG_LEVEL (debug, info, warn, error).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// FromEnv returns a logger writing to w, or an error naming a bad value.
func FromEnv(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if v := os.Getenv("LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, fmt.Errorf("LOG_LEVEL: %q is not debug, info, warn or error", v)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(os.Getenv("LOG_FORMAT")) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("LOG_FORMAT: %q is not text or json", os.Getenv("LOG_FORMAT"))
}

// MustFromEnv is FromEnv for main: a bad setting ends the process.
func MustFromEnv() *slog.Logger {
	log, err := FromEnv(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	return log
}
