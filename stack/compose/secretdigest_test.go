package compose

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretDigestIsSaltedAndStable(t *testing.T) {
	d := SecretDigest("app", "token", []byte("hunter2"))
	if d != SecretDigest("app", "token", []byte("hunter2")) {
		t.Error("the digest of the same secret changes: render would not be deterministic")
	}
	for _, other := range []string{SecretDigest("other", "token", []byte("hunter2")), SecretDigest("app", "key", []byte("hunter2")), SecretDigest("app", "token", []byte("hunter3"))} {
		if other == d {
			t.Error("another stack, key or content gives the same digest: one guess tests them all")
		}
	}
}

// A secret version's name and labels must not carry its content's sha256
// (a guess tested at billions a second); a config's still do.
func TestSecretLabelsHoldNoSHA256(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	doc := "services:\n  web:\n    image: nginx\n    secrets: [token]\n    configs: [conf]\nsecrets:\n  token:\n    environment: TOKEN\nconfigs:\n  conf:\n    content: hunter2\n"
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := Load(context.Background(), Options{Name: "app", Files: []string{file}, Environ: map[string]string{"TOKEN": "hunter2"}})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("hunter2"))
	plain := hex.EncodeToString(sum[:])
	sec := st.Secrets["token"]
	for k, v := range sec.Labels {
		if strings.Contains(v, plain[:hashLen]) {
			t.Errorf("secret label %s=%s holds the content's sha256", k, v)
		}
	}
	if strings.Contains(sec.Name, plain[:hashLen]) {
		t.Errorf("secret name %s holds the content's sha256", sec.Name)
	}
	if want := SecretDigestScheme + ":" + SecretDigest("app", "token", []byte("hunter2")); sec.Labels[LabelHash] != want {
		t.Errorf("label %s = %q, want %q", LabelHash, sec.Labels[LabelHash], want)
	}
	if conf := st.Configs["conf"]; conf.Labels[LabelHash] != plain {
		t.Errorf("config label %s = %q, want the content's sha256 (configs are readable anyway)", LabelHash, conf.Labels[LabelHash])
	}
}

// BenchmarkSecretDigest is what each secret of a stack costs every load
// (render, plan, deploy), and every guess costs whoever reads the labels.
func BenchmarkSecretDigest(b *testing.B) {
	for b.Loop() {
		SecretDigest("app", "token", []byte("hunter2"))
	}
}
