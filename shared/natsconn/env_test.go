package natsconn

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"go.uber.org/goleak"

	"github.com/wsgate/wsgate/shared/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var vars = []string{"NATS_URL", "NATS_CREDS", "NATS_NKEY", "NATS_USER", "NATS_PASSWORD", "NATS_TOKEN",
	"NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY"}

// setEnv clears every variable FromEnv reads, then sets kv.
func setEnv(t *testing.T, kv map[string]string) {
	t.Helper()
	for _, v := range vars {
		t.Setenv(v, "")
	}
	for k, v := range kv {
		t.Setenv(k, v)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// identity is a decentralised-auth setup: an operator, an account and a
// user of that account, as nsc would make them.
type identity struct {
	operator *jwt.OperatorClaims
	account  string // public key
	acctJWT  string
	creds    []byte // user JWT and seed, the .creds format
	userSeed []byte
}

func newIdentity(t *testing.T) identity {
	t.Helper()
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "wsgate"
	ojwt, err := oc.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	if oc, err = jwt.DecodeOperatorClaims(ojwt); err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ac.Name = "WSGATE"
	ajwt, err := ac.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "gateway"
	ujwt, err := uc.Encode(akp)
	if err != nil {
		t.Fatal(err)
	}
	useed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	if err != nil {
		t.Fatal(err)
	}
	return identity{operator: oc, account: apub, acctJWT: ajwt, creds: creds, userSeed: useed}
}

func TestFromEnvDefaults(t *testing.T) {
	setEnv(t, nil)
	e, err := FromEnv()
	if err != nil || e.URL != DefaultURL || len(e.Options) != 0 {
		t.Fatalf("%+v %v", e, err)
	}
}

// A bad setting stops the process naming its variable, and never
// repeats a secret.
func TestFromEnvErrors(t *testing.T) {
	const secret = "SUPERSECRET"
	pki := natstest.NewPKI(t)
	id, other := newIdentity(t), newIdentity(t)
	mixed := strings.Replace(string(id.creds), string(id.userSeed), string(other.userSeed), 1)
	akp, _ := nkeys.CreateAccount()
	aseed, _ := akp.Seed()
	garbage := writeFile(t, "garbage", "-----BEGIN "+secret+"-----\n"+secret+"\n")
	serverKey, _ := os.ReadFile(pki.ServerKey)
	for _, c := range []struct {
		name, want string
		env        map[string]string
		secrets    []string
	}{
		{"creds missing", "NATS_CREDS", map[string]string{"NATS_CREDS": "/nonexistent/x.creds"}, nil},
		{"creds garbage", "NATS_CREDS", map[string]string{"NATS_CREDS": garbage}, []string{secret}},
		{"creds empty", "NATS_CREDS", map[string]string{"NATS_CREDS": writeFile(t, "empty", "")}, nil},
		{"creds seed of another user", "NATS_CREDS", map[string]string{"NATS_CREDS": writeFile(t, "mixed.creds", mixed)},
			[]string{string(id.userSeed), string(other.userSeed)}},
		{"nkey missing", "NATS_NKEY", map[string]string{"NATS_NKEY": "/nonexistent/seed"}, nil},
		{"nkey garbage", "NATS_NKEY", map[string]string{"NATS_NKEY": garbage}, []string{secret}},
		{"nkey of an account", "NATS_NKEY", map[string]string{"NATS_NKEY": writeFile(t, "acct.nk", string(aseed))}, []string{string(aseed)}},
		{"user without password", "NATS_PASSWORD", map[string]string{"NATS_USER": "gateway"}, nil},
		{"password without user", "NATS_USER", map[string]string{"NATS_PASSWORD": secret}, []string{secret}},
		{"two credentials", "NATS_TOKEN", map[string]string{"NATS_USER": "gateway", "NATS_PASSWORD": secret, "NATS_TOKEN": secret + "2"},
			[]string{secret}},
		{"ca missing", "NATS_TLS_CA", map[string]string{"NATS_TLS_CA": "/nonexistent/ca.pem"}, nil},
		{"ca garbage", "NATS_TLS_CA", map[string]string{"NATS_TLS_CA": garbage}, []string{secret}},
		{"cert without key", "NATS_TLS_KEY", map[string]string{"NATS_TLS_CERT": pki.ClientCert}, nil},
		{"key without cert", "NATS_TLS_CERT", map[string]string{"NATS_TLS_KEY": pki.ClientKey}, nil},
		{"key missing", "NATS_TLS_KEY", map[string]string{"NATS_TLS_CERT": pki.ClientCert, "NATS_TLS_KEY": "/nonexistent/key.pem"}, nil},
		{"key of another certificate", "NATS_TLS_KEY", map[string]string{"NATS_TLS_CERT": pki.ClientCert, "NATS_TLS_KEY": pki.ServerKey},
			[]string{string(serverKey)}},
		{"key garbage", "NATS_TLS_KEY", map[string]string{"NATS_TLS_CERT": pki.ClientCert, "NATS_TLS_KEY": garbage}, []string{secret}},
		{"url", "NATS_URL", map[string]string{"NATS_URL": "nats://gateway:" + secret + "@127.0.0.1:port"}, []string{secret}},
		{"url list", "NATS_URL", map[string]string{"NATS_URL": "nats://127.0.0.1:4222,nats://" + secret + "@"}, []string{secret}},
	} {
		t.Run(c.name, func(t *testing.T) {
			setEnv(t, c.env)
			_, err := FromEnv()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name %s", err, c.want)
			}
			for _, s := range c.secrets {
				if strings.Contains(err.Error(), strings.TrimSpace(s)) {
					t.Fatalf("error %q repeats a secret", err)
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                            "nats://127.0.0.1:4222",
		"nats://gateway:s3cret@nats:4222":                  "nats://gateway:xxxxx@nats:4222",
		"nats://s3cret@nats:4222":                          "nats://xxxxx@nats:4222",
		"tls://a:p@n1:4222, nats://tok@n2:4222,nats://n3":  "tls://a:xxxxx@n1:4222,nats://xxxxx@n2:4222,nats://n3",
		"gateway:p@ss@nats:4222":                           "gateway:xxxxx@nats:4222",
		"nats://gateway:s3cret@nats:4222,nats://nats:4223": "nats://gateway:xxxxx@nats:4222,nats://nats:4223",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// connect dials with what FromEnv read, once, without retrying.
func connect(t *testing.T) (*nats.Conn, error) {
	t.Helper()
	e, err := FromEnv()
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	nc, err := nats.Connect(e.URL, append(e.Options, nats.Timeout(5*time.Second))...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Each kind of credential gets in; the wrong one does not.
func TestCredentialsConnect(t *testing.T) {
	t.Run("user and password", func(t *testing.T) {
		s := startServer(t, &server.Options{Users: []*server.User{{Username: "gateway", Password: "pw"}}})
		setEnv(t, map[string]string{"NATS_URL": s.ClientURL(), "NATS_USER": "gateway", "NATS_PASSWORD": "pw"})
		if _, err := connect(t); err != nil {
			t.Fatal(err)
		}
		setEnv(t, map[string]string{"NATS_URL": s.ClientURL(), "NATS_USER": "gateway", "NATS_PASSWORD": "other"})
		if _, err := connect(t); err == nil {
			t.Fatal("wrong password accepted")
		}
		// Credentials inside NATS_URL keep working.
		setEnv(t, map[string]string{"NATS_URL": strings.Replace(s.ClientURL(), "://", "://gateway:pw@", 1)})
		if _, err := connect(t); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("token", func(t *testing.T) {
		s := startServer(t, &server.Options{Authorization: "tok"})
		setEnv(t, map[string]string{"NATS_URL": s.ClientURL(), "NATS_TOKEN": "tok"})
		if _, err := connect(t); err != nil {
			t.Fatal(err)
		}
		setEnv(t, map[string]string{"NATS_URL": s.ClientURL(), "NATS_TOKEN": "other"})
		if _, err := connect(t); err == nil {
			t.Fatal("wrong token accepted")
		}
	})
	t.Run("nkey", func(t *testing.T) {
		kp, _ := nkeys.CreateUser()
		pub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		s := startServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
		setEnv(t, map[string]string{"NATS_URL": s.ClientURL(), "NATS_NKEY": writeFile(t, "user.nk", string(seed))})
		if _, err := connect(t); err != nil {
			t.Fatal(err)
		}
		other, _ := nkeys.CreateUser()
		oseed, _ := other.Seed()
		setEnv(t, map[string]string{"NATS_URL": s.ClientURL(), "NATS_NKEY": writeFile(t, "other.nk", string(oseed))})
		if _, err := connect(t); err == nil {
			t.Fatal("unknown nkey accepted")
		}
	})
	t.Run("creds", func(t *testing.T) {
		id := newIdentity(t)
		res := &server.MemAccResolver{}
		s := startServer(t, &server.Options{TrustedOperators: []*jwt.OperatorClaims{id.operator}, AccountResolver: res})
		if err := res.Store(id.account, id.acctJWT); err != nil {
			t.Fatal(err)
		}
		setEnv(t, map[string]string{"NATS_URL": s.ClientURL(), "NATS_CREDS": writeFile(t, "gateway.creds", string(id.creds))})
		if _, err := connect(t); err != nil {
			t.Fatal(err)
		}
		// A user of an account the server does not know.
		setEnv(t, map[string]string{"NATS_URL": s.ClientURL(), "NATS_CREDS": writeFile(t, "other.creds", string(newIdentity(t).creds))})
		if _, err := connect(t); err == nil {
			t.Fatal("unknown account accepted")
		}
	})
	t.Run("mutual tls", func(t *testing.T) {
		pki := natstest.NewPKI(t)
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CaFile: pki.CA, Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		s := startServer(t, &server.Options{TLSConfig: tc, TLSVerify: true, TLSTimeout: 2})
		setEnv(t, map[string]string{"NATS_URL": s.ClientURL(), "NATS_TLS_CA": pki.CA, "NATS_TLS_CERT": pki.ClientCert, "NATS_TLS_KEY": pki.ClientKey})
		nc, err := connect(t)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := nc.TLSConnectionState(); err != nil || len(st.PeerCertificates) == 0 {
			t.Fatalf("not TLS: %v", err)
		}
		setEnv(t, map[string]string{"NATS_URL": s.ClientURL(), "NATS_TLS_CA": pki.CA})
		if _, err := connect(t); err == nil {
			t.Fatal("a client without a certificate was accepted")
		}
		setEnv(t, map[string]string{"NATS_URL": s.ClientURL(), "NATS_TLS_CERT": pki.ClientCert, "NATS_TLS_KEY": pki.ClientKey})
		if _, err := connect(t); err == nil {
			t.Fatal("a server certificate from an unknown authority was accepted")
		}
	})
}

// A process refused by NATS logs why, once per reason, without secrets.
func TestConnectFailureLogged(t *testing.T) {
	s := startServer(t, &server.Options{Users: []*server.User{{Username: "gateway", Password: "pw"}}})
	var buf natstest.LogBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	closed := make(chan struct{})
	nc, err := Connect(strings.Replace(s.ClientURL(), "://", "://gateway:SUPERSECRET@", 1), "t", log,
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	select {
	case <-closed: // nats.go gives up on refused credentials
	case <-time.After(10 * time.Second):
		t.Fatal("refused credentials did not close the connection")
	}
	out := buf.String()
	if !strings.Contains(out, "nats connect failed") || !strings.Contains(out, "Authorization Violation") || strings.Contains(out, "SUPERSECRET") {
		t.Fatalf("log:\n%s", out)
	}
}
