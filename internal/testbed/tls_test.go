package testbed

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/deckhand/deckhand/internal/testenv"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return c
}

func TestBedTLSCertificates(t *testing.T) {
	b, err := newBedTLS(testenv.OpenSSL(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := b.server("node1", "10.99.0.11")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, b.caCert))

	// The engine's certificate is valid for the node's address and name, as a server.
	sc := readCert(t, srv.cert)
	for _, host := range []string{"10.99.0.11", "node1"} {
		opts := x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := sc.Verify(opts); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if len(sc.IPAddresses) != 1 || !sc.IPAddresses[0].Equal(net.ParseIP("10.99.0.11")) {
		t.Errorf("server certificate IP SANs = %v, want 10.99.0.11", sc.IPAddresses)
	}

	// The client set verifies as a client under the bed's CA; the untrusted one does not.
	client := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := readCert(t, b.client.Cert).Verify(client); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := readCert(t, b.untrusted.Cert).Verify(client); err == nil {
		t.Errorf("the untrusted client certificate verifies under the bed's CA")
	}
	// Both sets are DOCKER_CERT_PATH directories trusting the bed's CA.
	for _, f := range []TLSFiles{b.client, b.untrusted} {
		for _, name := range []string{"ca.pem", "cert.pem", "key.pem"} {
			if _, err := os.Stat(filepath.Join(f.Dir, name)); err != nil {
				t.Errorf("%s lacks %s: %v", f.Dir, name, err)
			}
		}
		if !readCert(t, f.CA).Equal(readCert(t, b.caCert)) {
			t.Errorf("%s/ca.pem is not the bed's CA", f.Dir)
		}
	}
}

func TestEngineString(t *testing.T) {
	for e, want := range map[Engine]string{EngineDebian: "debian", EngineCurrent: "current", Engine(7): "Engine(7)"} {
		if got := e.String(); got != want {
			t.Errorf("Engine(%d).String() = %q, want %q", int(e), got, want)
		}
	}
}
