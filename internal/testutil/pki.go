package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// PKI is a throw-away certificate authority for tests: it issues server
// certificates for the loopback addresses and client certificates, as
// tls.Certificates and as PEM files in a temporary directory.
//
// Concurrency: safe for concurrent use.
type PKI struct {
	// CAFile is the CA certificate (PEM); Pool trusts it.
	CAFile string
	Pool   *x509.CertPool

	dir    string
	ca     *x509.Certificate
	key    *ecdsa.PrivateKey
	mu     sync.Mutex
	serial int64
}

// Pair is an issued certificate with its key.
type Pair struct {
	Cert     tls.Certificate
	CertFile string // PEM
	KeyFile  string // PEM
}

// NewPKI creates a CA valid for an hour around now.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{dir: t.TempDir(), Pool: x509.NewCertPool(), serial: 1}
	tmpl := p.template("test CA")
	tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature
	der, key := p.sign(t, tmpl, nil, nil)
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, p.key = ca, key
	p.Pool.AddCert(ca)
	p.CAFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.CAFile, "CERTIFICATE", der)
	return p
}

// Server issues a server certificate for 127.0.0.1, ::1 and localhost.
func (p *PKI) Server(t testing.TB, name string) Pair {
	t.Helper()
	tmpl := p.template(name)
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	tmpl.DNSNames = []string{"localhost"}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	return p.issue(t, name, tmpl)
}

// Client issues a client certificate with common name cn.
func (p *PKI) Client(t testing.TB, cn string) Pair {
	t.Helper()
	tmpl := p.template(cn)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return p.issue(t, cn, tmpl)
}

func (p *PKI) template(cn string) *x509.Certificate {
	p.mu.Lock()
	p.serial++
	n := p.serial
	p.mu.Unlock()
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
	}
}

func (p *PKI) sign(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func (p *PKI) issue(t testing.TB, name string, tmpl *x509.Certificate) Pair {
	t.Helper()
	der, key := p.sign(t, tmpl, p.ca, p.key)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pr := Pair{
		CertFile: filepath.Join(p.dir, name+".pem"),
		KeyFile:  filepath.Join(p.dir, name+".key"),
	}
	writePEM(t, pr.CertFile, "CERTIFICATE", der)
	writePEM(t, pr.KeyFile, "EC PRIVATE KEY", kb)
	if pr.Cert, err = tls.LoadX509KeyPair(pr.CertFile, pr.KeyFile); err != nil {
		t.Fatal(err)
	}
	return pr
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
