// Package env reads settings from environment variables with defaults, and
// reports a malformed value instead of silently using the default.
package env

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// String returns the variable, or def when it is unset or empty.
func String(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Duration parses a Go duration such as "1s" or "250ms".
func Duration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative duration like 1s", name, v)
	}
	return d, nil
}

// Int parses a non-negative integer.
func Int(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative integer", name, v)
	}
	return n, nil
}

// Float parses a non-negative number.
func Float(name string, def float64) (float64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative number", name, v)
	}
	return n, nil
}

// Bool parses true/false (also 1/0, yes/no, on/off).
func Bool(name string, def bool) (bool, error) {
	switch strings.ToLower(os.Getenv(name)) {
	case "":
		return def, nil
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is not true or false", name, os.Getenv(name))
}
