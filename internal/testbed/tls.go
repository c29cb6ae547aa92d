package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// TLSFiles is a client certificate set for the nodes' TLS listeners, laid out
// as DOCKER_CERT_PATH wants it.
type TLSFiles struct {
	Dir  string // for DOCKER_CERT_PATH: holds ca.pem, cert.pem and key.pem
	CA   string // the CA certificate to trust (--tlscacert)
	Cert string // the client certificate (--tlscert)
	Key  string // the client key (--tlskey)
}

// bedTLS is the test's certificate authority, the client set it signed, and
// a client set signed by another CA that the engines reject.
type bedTLS struct {
	openssl   string
	dir       string
	caCert    string
	caKey     string
	client    TLSFiles
	untrusted TLSFiles
}

// serverTLS is one engine's CA, certificate and key (dockerd --tls*).
type serverTLS struct{ ca, cert, key string }

// newBedTLS makes a CA (ECDSA P-256), a client certificate it signs, and a
// client certificate signed by a second CA, with openssl, under dir.
func newBedTLS(openssl, dir string) (*bedTLS, error) {
	b := &bedTLS{openssl: openssl, dir: dir}
	var err error
	if b.caCert, b.caKey, err = b.ca("ca", "deckhand test bed CA"); err != nil {
		return nil, err
	}
	if b.client, err = b.clientSet("client", b.caCert, b.caKey); err != nil {
		return nil, err
	}
	otherCert, otherKey, err := b.ca("other-ca", "deckhand test bed other CA")
	if err != nil {
		return nil, err
	}
	// Trusts the bed's CA (so it reaches the engine) but carries a
	// certificate the engine's CA did not sign.
	if b.untrusted, err = b.clientSet("untrusted", otherCert, otherKey); err != nil {
		return nil, err
	}
	return b, nil
}

// ca makes a self-signed CA named name in dir/name.
func (b *bedTLS) ca(name, cn string) (cert, key string, err error) {
	d := filepath.Join(b.dir, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(d, "ca.pem"), filepath.Join(d, "ca-key.pem")
	cnf := filepath.Join(d, "ca.cnf")
	if err := os.WriteFile(cnf, []byte(`[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
CN = `+cn+`
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
`), 0o600); err != nil {
		return "", "", err
	}
	err = b.run("req", "-x509", "-new", "-config", cnf, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-days", "7", "-keyout", key, "-out", cert)
	return cert, key, err
}

// leaf makes a key and a certificate for cn in dir, signed by the CA, with
// the given extensions.
func (b *bedTLS) leaf(dir, cn, caCert, caKey, ext string) (cert, key string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	csr, extFile := filepath.Join(dir, "req.csr"), filepath.Join(dir, "ext.cnf")
	if err := os.WriteFile(extFile, []byte(ext), 0o600); err != nil {
		return "", "", err
	}
	if err := b.run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-subj", "/CN="+cn, "-keyout", key, "-out", csr); err != nil {
		return "", "", err
	}
	if err := b.run("x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial",
		"-CAserial", filepath.Join(filepath.Dir(caCert), "ca.srl"), "-days", "7", "-extfile", extFile, "-out", cert); err != nil {
		return "", "", err
	}
	_ = os.Remove(csr)
	_ = os.Remove(extFile)
	return cert, key, nil
}

// clientSet makes a client certificate signed by the given CA in dir/name,
// next to a copy of the bed's CA certificate (the one that signed the engines).
func (b *bedTLS) clientSet(name, caCert, caKey string) (TLSFiles, error) {
	d := filepath.Join(b.dir, name)
	cert, key, err := b.leaf(d, "deckhand test client", caCert, caKey,
		"basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\n")
	if err != nil {
		return TLSFiles{}, err
	}
	ca, err := os.ReadFile(b.caCert)
	if err != nil {
		return TLSFiles{}, err
	}
	f := TLSFiles{Dir: d, CA: filepath.Join(d, "ca.pem"), Cert: cert, Key: key}
	return f, os.WriteFile(f.CA, ca, 0o600)
}

// server makes the certificate of the engine of node name at addr, valid
// for both (subjectAltName).
func (b *bedTLS) server(name, addr string) (*serverTLS, error) {
	cert, key, err := b.leaf(filepath.Join(b.dir, name), name, b.caCert, b.caKey,
		"basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n"+
			"subjectAltName = IP:"+addr+",DNS:"+name+"\n")
	if err != nil {
		return nil, err
	}
	return &serverTLS{ca: b.caCert, cert: cert, key: key}, nil
}

func (b *bedTLS) run(args ...string) error {
	out, err := exec.Command(b.openssl, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("openssl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
