package compose

import (
	"encoding/hex"

	"golang.org/x/crypto/argon2"
)

// SecretDigestScheme names how a secret version's digest is derived; its
// deckhand.hash label is SCHEME:DIGEST.
const SecretDigestScheme = "argon2id-m19456-t2-p1"

// The argon2id parameters of SecretDigest: OWASP's minimum for passwords
// (19 MiB, two passes, one lane).
const (
	secretArgonMemory  = 19 * 1024 // KiB
	secretArgonTime    = 2
	secretArgonThreads = 1
)

// SecretDigest is the digest that names a secret version and goes in its
// label: argon2id of the content, salted with the stack and the key, in
// hex. It is deterministic (render stays offline and byte-stable), but a
// guess at a secret costs whoever reads the labels one slow, memory-hard
// derivation per stack and key, not one sha256.
func SecretDigest(stack, key string, data []byte) string {
	salt := []byte("deckhand secret v1\x00" + stack + "\x00" + key)
	return hex.EncodeToString(argon2.IDKey(data, salt, secretArgonTime, secretArgonMemory, secretArgonThreads, 32))
}
