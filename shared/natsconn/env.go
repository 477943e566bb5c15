package natsconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/wsgate/wsgate/shared/env"
)

// Env is how a process reaches NATS: NATS_URL, and the credential and TLS
// options from the environment.
type Env struct {
	URL     string
	Options []nats.Option
}

// Redacted is URL without credentials, for logs.
func (e Env) Redacted() string { return Redact(e.URL) }

// FromEnv reads NATS_URL, one credential (NATS_CREDS, NATS_NKEY,
// NATS_USER with NATS_PASSWORD, or NATS_TOKEN) and TLS (NATS_TLS_CA,
// NATS_TLS_CERT with NATS_TLS_KEY). Files are read and parsed now, so a bad
// one stops the process at start naming its variable; nats.go reads TLS and
// .creds files again at each (re)connect, which picks up renewed
// certificates and user JWTs (an NKey's public key is taken once). Errors
// never carry a secret.
func FromEnv() (Env, error) {
	e := Env{URL: env.String("NATS_URL", DefaultURL)}
	var errs []error
	if err := checkURLs(e.URL); err != nil {
		errs = append(errs, err)
	}
	opt, err := credential()
	if err != nil {
		errs = append(errs, err)
	} else if opt != nil {
		e.Options = append(e.Options, opt)
	}
	topts, err := tlsOptions()
	errs = append(errs, err)
	e.Options = append(e.Options, topts...)
	return e, errors.Join(errs...)
}

// credential is the one credential option set, or nil for none.
func credential() (nats.Option, error) {
	creds, nkey := os.Getenv("NATS_CREDS"), os.Getenv("NATS_NKEY")
	user, pass, token := os.Getenv("NATS_USER"), os.Getenv("NATS_PASSWORD"), os.Getenv("NATS_TOKEN")
	var set []string
	for _, v := range []struct{ name, val string }{
		{"NATS_CREDS", creds}, {"NATS_NKEY", nkey}, {"NATS_USER/NATS_PASSWORD", user + pass}, {"NATS_TOKEN", token},
	} {
		if v.val != "" {
			set = append(set, v.name)
		}
	}
	if len(set) > 1 {
		return nil, fmt.Errorf("%s: set only one kind of NATS credential", strings.Join(set, ", "))
	}
	switch {
	case creds != "":
		if err := checkCreds(creds); err != nil {
			return nil, fmt.Errorf("NATS_CREDS: %w", err)
		}
		return nats.UserCredentials(creds), nil
	case nkey != "":
		if err := checkSeed(nkey); err != nil {
			return nil, fmt.Errorf("NATS_NKEY: %w", err)
		}
		opt, err := nats.NkeyOptionFromSeed(nkey)
		if err != nil {
			return nil, fmt.Errorf("NATS_NKEY: %s: not a user NKey seed", nkey)
		}
		return opt, nil
	case user != "" && pass == "":
		return nil, errors.New("NATS_USER is set without NATS_PASSWORD")
	case user == "" && pass != "":
		return nil, errors.New("NATS_PASSWORD is set without NATS_USER")
	case user != "":
		return nats.UserInfo(user, pass), nil
	case token != "":
		return nats.Token(token), nil
	}
	return nil, nil
}

// checkCreds wants a user JWT and the seed of that same user.
func checkCreds(path string) error {
	b, err := readFile(path)
	if err != nil {
		return err
	}
	defer wipe(b)
	tok, err := nkeys.ParseDecoratedJWT(b)
	if err != nil {
		return fmt.Errorf("%s: no user JWT", path)
	}
	claims, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return fmt.Errorf("%s: no valid user JWT", path)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return fmt.Errorf("%s: no user NKey seed", path)
	}
	defer kp.Wipe()
	if pub, err := kp.PublicKey(); err != nil || pub != claims.Subject {
		return fmt.Errorf("%s: the seed is not the JWT's user", path)
	}
	return nil
}

func checkSeed(path string) error {
	b, err := readFile(path)
	if err != nil {
		return err
	}
	defer wipe(b)
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return fmt.Errorf("%s: not a user NKey seed", path)
	}
	kp.Wipe()
	return nil
}

// tlsOptions checks the TLS files and returns nats.go's file-based
// options, which load them again at each connection.
func tlsOptions() ([]nats.Option, error) {
	ca, cert, key := os.Getenv("NATS_TLS_CA"), os.Getenv("NATS_TLS_CERT"), os.Getenv("NATS_TLS_KEY")
	var opts []nats.Option
	var errs []error
	if ca != "" {
		if err := checkCA(ca); err != nil {
			errs = append(errs, fmt.Errorf("NATS_TLS_CA: %w", err))
		} else {
			opts = append(opts, nats.RootCAs(ca))
		}
	}
	switch {
	case cert != "" && key == "":
		errs = append(errs, errors.New("NATS_TLS_CERT is set without NATS_TLS_KEY"))
	case cert == "" && key != "":
		errs = append(errs, errors.New("NATS_TLS_KEY is set without NATS_TLS_CERT"))
	case cert != "":
		if err := checkKeyPair(cert, key); err != nil {
			errs = append(errs, err)
		} else {
			opts = append(opts, nats.ClientCert(cert, key))
		}
	}
	return opts, errors.Join(errs...)
}

func checkCA(path string) error {
	b, err := readFile(path)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return fmt.Errorf("%s: no PEM certificate", path)
	}
	return nil
}

func checkKeyPair(cert, key string) error {
	c, err := readFile(cert)
	if err != nil {
		return fmt.Errorf("NATS_TLS_CERT: %w", err)
	}
	k, err := readFile(key)
	if err != nil {
		return fmt.Errorf("NATS_TLS_KEY: %w", err)
	}
	defer wipe(k)
	// tls's errors name what is wrong, never the key's bytes.
	if _, err := tls.X509KeyPair(c, k); err != nil {
		return fmt.Errorf("NATS_TLS_CERT, NATS_TLS_KEY: %s and %s: %v", cert, key, err)
	}
	return nil
}

// readFile reads a file the process cannot run without; an empty one is
// as wrong as a missing one.
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err // names the path and the reason, nothing of the content
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: empty file", path)
	}
	return b, nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// checkURLs rejects what nats.go could not parse, without repeating the
// URL: it may hold a password.
func checkURLs(urls string) error {
	for i, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		if !strings.Contains(u, "://") {
			u = "nats://" + u
		}
		p, err := url.Parse(u)
		if err != nil || p.Host == "" {
			return fmt.Errorf("NATS_URL: entry %d is not a URL like nats://host:4222", i+1)
		}
	}
	return nil
}

// Redact removes credentials from a comma-separated list of NATS URLs:
// nats://user:pass@host becomes nats://user:xxxxx@host, and a token
// (nats://token@host) becomes nats://xxxxx@host.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		u = strings.TrimSpace(u)
		scheme, rest, ok := strings.Cut(u, "://")
		if !ok {
			scheme, rest = "", u
		}
		at := strings.LastIndex(rest, "@")
		if at < 0 {
			parts[i] = u
			continue
		}
		cred, host := rest[:at], rest[at+1:]
		red := "xxxxx"
		if name, _, hasPass := strings.Cut(cred, ":"); hasPass {
			red = name + ":xxxxx"
		}
		if scheme != "" {
			scheme += "://"
		}
		parts[i] = scheme + red + "@" + host
	}
	return strings.Join(parts, ",")
}
